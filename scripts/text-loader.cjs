/**
 * `node --require ./scripts/text-loader.cjs` (with tsx): files imported as text (the Lua scripts
 * under lib/inventory/lua) load as their contents, as esbuild's and jest's text loaders do.
 */
const { readFileSync } = require('node:fs');

require.extensions['.lua'] = (module, filename) => {
  module.exports = readFileSync(filename, 'utf8');
};
