import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { test } from "node:test";

const ROOT = join(import.meta.dirname, "..", "..");
const TOP = ["src", "tests", "docs", "bench", "scripts", "examples"];

/** Every text file the docs and the code comments live in: README.md, docs/, and the source trees. */
function files(): string[] {
  const out = [join(ROOT, "README.md")];
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (/\.(md|ts|mjs|js|toml|json)$/.test(name) && !name.endsWith(".gen.ts") && name !== "results.json")
        out.push(path);
    }
  };
  for (const top of TOP) walk(join(ROOT, top));
  return out;
}

// A repository path: one of the top folders, then path segments; a file needs an extension, a folder
// is taken when it stands alone in backticks (`src/adapter/deno`) or as a link target.
const FILE = new RegExp(`(?<![\\w./-])(?:${TOP.join("|")})/[A-Za-z0-9_./-]*[A-Za-z0-9_-]\\.[a-z]{1,4}\\b`, "g");
const QUOTED_DIR = new RegExp(`\`((?:${TOP.join("|")})/[A-Za-z0-9_/-]*?)/?\``, "g");
const LINK = /\]\(((?!https?:|#|mailto:)[^)#\s]+)(?:#[^)]*)?\)/g;

test("every repository path that a doc or a source comment names exists", () => {
  const missing: string[] = [];
  for (const file of files()) {
    const text = readFileSync(file, "utf8");
    const where = relative(ROOT, file);
    const check = (path: string, base = ROOT) => {
      if (!existsSync(join(base, path))) missing.push(`${where}: ${path}`);
    };
    for (const [path] of text.matchAll(FILE)) check(path);
    for (const [, path] of text.matchAll(QUOTED_DIR)) check(path);
    if (file.endsWith(".md")) for (const [, path] of text.matchAll(LINK)) check(path, dirname(file));
  }
  assert.deepEqual(missing, [], "fix or remove these paths");
});

test("the check finds a path that does not exist", () => {
  // The patterns above, on a sample: a check that cannot fail would prove nothing.
  // Built from parts, so that this file names no missing path itself.
  const [src, docs] = ["src", "docs"];
  const sample = `see \`${src}/nowhere\` and ${src}/missing/file.ts, [x](${docs}/gone.md)`;
  assert.deepEqual(
    [...sample.matchAll(FILE)].map((m) => m[0]),
    [`${src}/missing/file.ts`, `${docs}/gone.md`],
  );
  assert.deepEqual(
    [...sample.matchAll(QUOTED_DIR)].map((m) => m[1]),
    [`${src}/nowhere`],
  );
  assert.deepEqual(
    [...sample.matchAll(LINK)].map((m) => m[1]),
    [`${docs}/gone.md`],
  );
});
