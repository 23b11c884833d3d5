// What dependency-cruiser needs from a "classic" TypeScript compiler (transpile a file to JavaScript,
// three enums), implemented with Node's own type stripper. Loaded only by register.mjs; see there why.
import { stripTypeScriptTypes } from "node:module";

// `import type` and `export type { } from` are dropped by any transpiler, but a type import still ties
// two folders together: turned into value imports first, they count as edges like any other.
const typeImportsAsValueImports = (source) =>
  source
    .replace(/^(\s*)import\s+type\s+/gm, "$1import ")
    .replace(/^(\s*)export\s+type\s+(\{[^}]*\}\s*from)/gm, "$1export $2");

const typescript = {
  version: "5.9.3",
  ScriptTarget: { ES2015: 2, ES2022: 9, Latest: 99 },
  ModuleKind: { NodeNext: 199 },
  JsxEmit: { React: 2 },
  // Read when dependency-cruiser loads its own TypeScript-AST parser, which this setup never runs
  // (tsPreCompilationDeps stays off: every file goes through transpileModule and acorn).
  SyntaxKind: {},
  transpileModule: (source) => ({
    outputText: stripTypeScriptTypes(typeImportsAsValueImports(source), { mode: "transform" }),
  }),
};

export default typescript;
