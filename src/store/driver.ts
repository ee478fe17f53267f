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
  /**
   * Run `fn`'s writes, all or none, in a transaction that the writes of the rest of this turn join and
   * that commits at the end of the turn, or with the next `transaction` (whichever comes first). A driver
   * that cannot defer a commit runs it as a `transaction`.
   */
  inTurn?<T>(fn: () => T): T;
  /** Commit what `inTurn` wrote so far (before the process stops). */
  flush?(): void;
  /** Give free pages back, write the WAL into the database file and truncate it (where the store owns its file). */
  checkpoint?(): void;
  close(): void;
}
