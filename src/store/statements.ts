/**
 * A SqlDriver over the prepared-statement API that better-sqlite3, node:sqlite and bun:sqlite share.
 * The adapters open the database with their runtime's module and hand it here.
 */
import { log } from "../log.ts";
import type { SqlDriver, SqlValue } from "./driver.ts";

interface Statement {
  run(...params: SqlValue[]): unknown;
  all(...params: SqlValue[]): unknown[];
}

/** The shape common to better-sqlite3's, node:sqlite's and bun:sqlite's database objects. */
export interface StatementDatabase {
  exec(sql: string): unknown;
  prepare(sql: string): Statement;
  close(): unknown;
}

/** Run a function at the end of this turn of the event loop. */
export type Defer = (fn: () => void) => void;

/**
 * Wrap a statement-style database, with WAL and `synchronous=NORMAL` set for a file database. With
 * `deferCommits`, `inTurn` writes (joins: a new user, a user back or away) share one commit per turn.
 */
export function statementDriver(db: StatementDatabase, deferCommits?: Defer): SqlDriver {
  // WAL + synchronous=NORMAL: a commit survives a kill -9 of the process (it is in the WAL file
  // once COMMIT returns), which is what the protocol promises before a message is sent.
  // Before any table exists: a new database gives pages back to the file system when rows go (forgotten
  // guests, trimmed history), so the file shrinks with them; an old one keeps reusing its free pages.
  db.exec("PRAGMA auto_vacuum = INCREMENTAL;");
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;");
  // A deleted message is erased from the file, not only unlinked: SQLite zeroes the space it frees
  // (PROTOCOL-v2 section 1), and the store checkpoints the WAL after a deletion.
  db.exec("PRAGMA secure_delete = ON;");
  const cache = new Map<string, Statement>();
  const prepared = (sql: string) => {
    const stmt = cache.get(sql) ?? db.prepare(sql);
    cache.set(sql, stmt);
    return stmt;
  };
  let depth = 0;
  /** A transaction of `inTurn` writes is open, to commit at the end of the turn. */
  let turnOpen = false;
  const endTurn = () => {
    if (!turnOpen || depth > 0) return;
    turnOpen = false;
    try {
      db.exec("COMMIT");
    } catch (err) {
      // Nothing awaits this commit to answer: what it held (users of joins already welcomed) is lost,
      // which costs those users a new id when they come back; the server goes on.
      log.error("deferred_commit_failed", { error: (err as Error).message });
      try {
        db.exec("ROLLBACK");
      } catch {
        // Already rolled back by SQLite.
      }
    }
  };
  /** Run `fn` after `open`, then `done`; if it throws, `undo` and throw again. Calls inside it nest. */
  const around = <T>(fn: () => T, open: string, done: string, undo: string): T => {
    db.exec(open);
    depth++;
    try {
      const out = fn();
      db.exec(done);
      return out;
    } catch (err) {
      db.exec(undo);
      throw err;
    } finally {
      depth--;
    }
  };
  /** Run `fn` inside the open transaction as a unit: a savepoint, undone alone if `fn` throws. */
  const unit = <T>(fn: () => T): T => around(fn, "SAVEPOINT unit", "RELEASE unit", "ROLLBACK TO unit; RELEASE unit;");
  return {
    exec: (sql) => void db.exec(sql),
    run: (sql, ...params) => void prepared(sql).run(...params),
    all: <T>(sql: string, ...params: SqlValue[]) => prepared(sql).all(...params) as T[],
    transaction<T>(fn: () => T): T {
      // Nested calls join the outer transaction (createUser calls meta, which may insert).
      if (depth > 0) return fn();
      // This turn's deferred writes commit with it, so that everything is durable when it returns (the
      // room sends entries right after their transaction).
      if (turnOpen) {
        try {
          return unit(fn);
        } finally {
          endTurn();
        }
      }
      return around(fn, "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK");
    },
    inTurn<T>(fn: () => T): T {
      if (!deferCommits) return this.transaction(fn);
      if (depth > 0) return fn();
      if (!turnOpen) {
        db.exec("BEGIN IMMEDIATE");
        turnOpen = true;
        deferCommits(endTurn);
      }
      return unit(fn);
    },
    flush: endTurn,
    checkpoint() {
      endTurn();
      // incremental_vacuum frees a page per step: node:sqlite's exec steps once (Deno: one page of 139),
      // its all() to the end; better-sqlite3's all() refuses a statement without rows, its exec runs it out.
      try {
        prepared("PRAGMA incremental_vacuum").all();
      } catch {
        db.exec("PRAGMA incremental_vacuum;");
      }
      db.exec("PRAGMA wal_checkpoint(TRUNCATE);");
    },
    close: () => {
      endTurn();
      db.close();
    },
  };
}
