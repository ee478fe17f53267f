/**
 * The little the store needs from a SQLite driver. Each runtime gives one: the prepared-statement API
 * of better-sqlite3, node:sqlite and bun:sqlite (statements.ts), or a Durable Object's ctx.storage.sql.
 */

export type SqlValue = string | number | null;

/** The driver seam; every call is synchronous, as all four SQLite APIs are. */
export interface SqlDriver {
  /** Run one or more statements without parameters (schema, pragmas). */
  exec(sql: string): void;
  run(sql: string, ...params: SqlValue[]): void;
  all<T>(sql: string, ...params: SqlValue[]): T[];
  /** Run `fn` in one transaction: all of it commits, or none of it. */
  transaction<T>(fn: () => T): T;
  /** Give free pages back, write the WAL into the database file and truncate it (where the store owns its file). */
  checkpoint?(): void;
  close(): void;
}
