/**
 * SQLite on Node: node:sqlite where the runtime has it (22.5+), else better-sqlite3 v12 (Node 20;
 * v13 needs Node 22 and segfaults on 20).
 */
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { type Defer, type StatementDatabase, statementDriver } from "../../store/statements.ts";
import type { SqlDriver } from "../../store/store.ts";

const require = createRequire(import.meta.url);

/** Open the database at `path` (`:memory:` keeps nothing), creating its directory. */
export function openSqlite(path: string, deferCommits?: Defer): SqlDriver {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  let db: StatementDatabase;
  try {
    const { DatabaseSync } = require("node:sqlite") as { DatabaseSync: new (p: string) => StatementDatabase };
    db = new DatabaseSync(path);
  } catch {
    const Database = require("better-sqlite3") as new (p: string) => StatementDatabase;
    db = new Database(path);
  }
  return statementDriver(db, deferCommits);
}
