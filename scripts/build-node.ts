/**
 * Bundle the Node server (src/adapter/node/index.ts and the core) into dist/node.mjs, which `npm start`
 * and the tests run. Node 20 cannot run TypeScript itself, and running it through tsx costs: tsx builds
 * with esbuild's keepNames, which gives every closure created at run time its own `name` property, so
 * each socket's handlers and session closures cost 256 bytes more each and a defineProperty call to
 * make (about 2.6 KB per idle connection, found with a heap snapshot). Dependencies stay in node_modules.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outfile = join(root, "dist/node.mjs");

await build({
  entryPoints: [join(root, "src/adapter/node/index.ts")],
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  packages: "external",
  sourcemap: "linked",
  outfile,
  logLevel: "warning",
});
console.log(`node server: ${outfile.slice(root.length + 1)}`);
