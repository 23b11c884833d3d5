// `npm run check:imports` loads this before dependency-cruiser (node --import).
//
// Why: dependency-cruiser 18 reads .ts files through the TypeScript compiler's API, which it supports
// for TypeScript < 7 and >= 7.1; the project's TypeScript 7.0 (the native compiler) ships no such API,
// so dependency-cruiser would silently cruise zero files. This hook hands dependency-cruiser, and only
// dependency-cruiser, a stand-in "typescript" module (typescriptShim.mjs) built on Node's own type
// stripper. Remove this file and the --import flag once a supported TypeScript (>= 7.1) is installed.
import { registerHooks } from "node:module";

const shimUrl = new URL("./typescriptShim.mjs", import.meta.url).href;
const shimManifestUrl = new URL("./typescriptShim.package.json", import.meta.url).href;

registerHooks({
  resolve(specifier, context, nextResolve) {
    const fromDependencyCruiser = context.parentURL?.includes("/node_modules/dependency-cruiser/") ?? false;
    if (fromDependencyCruiser && specifier === "typescript") return { url: shimUrl, shortCircuit: true };
    if (fromDependencyCruiser && specifier === "typescript/package.json") {
      return { url: shimManifestUrl, shortCircuit: true };
    }
    return nextResolve(specifier, context);
  },
});
