/** Lua scripts are imported as text (esbuild and jest text loaders, scripts/text-loader.cjs under tsx). */
declare module '*.lua' {
  const text: string;
  export default text;
}
