/**
 * Write the machine-readable contract (scripts/contract.ts): docs/schema/, docs/asyncapi.yaml,
 * docs/openapi.json and src/openapi.gen.ts. Part of `npm run build`; a file is written only when it
 * changed, so that wrangler dev's watcher does not rebuild for nothing.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { contractFiles } from "./contract.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
let written = 0;
for (const [path, content] of Object.entries(contractFiles())) {
  const full = join(root, path);
  let current: string | undefined;
  try {
    current = readFileSync(full, "utf8");
  } catch {}
  if (current === content) continue;
  mkdirSync(dirname(full), { recursive: true });
  writeFileSync(full, content);
  written++;
}
console.log(`contract: ${written} file(s) written (docs/schema, docs/asyncapi.yaml, docs/openapi.json)`);
