/** jest transform for files imported as text (the Lua scripts): the module is the file's contents. */
module.exports = {
  process(source) {
    return { code: `module.exports = ${JSON.stringify(source)};` };
  },
};
