/**
 * The one schema, on every runtime, and its migrations in place. A v1 database (rooms, messages, users)
 * opens as it is: the columns v2 needs are added, and nothing is copied.
 */
import type { SqlDriver } from "./driver.ts";

const TABLES = `
CREATE TABLE IF NOT EXISTS rooms (
  name TEXT PRIMARY KEY,
  epoch TEXT NOT NULL,
  seq INTEGER NOT NULL DEFAULT 0,
  last_user_id INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS messages (
  room TEXT NOT NULL,
  seq INTEGER NOT NULL,
  ts INTEGER NOT NULL,
  user_id TEXT NOT NULL,
  user_name TEXT NOT NULL,
  text TEXT NOT NULL,
  ref TEXT,
  PRIMARY KEY (room, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
  room TEXT NOT NULL,
  seq INTEGER NOT NULL,
  ts INTEGER NOT NULL,
  kind TEXT NOT NULL,
  by_user TEXT NOT NULL,
  target INTEGER,
  text TEXT,
  data TEXT,
  ref TEXT,
  PRIMARY KEY (room, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS users (
  room TEXT NOT NULL,
  token TEXT NOT NULL,
  id TEXT NOT NULL,
  name TEXT NOT NULL,
  PRIMARY KEY (room, token)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS users_by_id ON users (room, id);
CREATE TABLE IF NOT EXISTS sanctions (
  room TEXT NOT NULL,
  user_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  until INTEGER,
  PRIMARY KEY (room, user_id, kind)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ban_groups (
  room TEXT NOT NULL,
  grp TEXT NOT NULL,
  user_id TEXT NOT NULL,
  PRIMARY KEY (room, grp, user_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (
  room TEXT NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (room, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
`;

/** Columns added after v1, with their definitions; a v1 table gains them in place. */
const ADDED: [table: string, column: string, definition: string][] = [
  ["users", "away_since", "INTEGER"],
  ["users", "posted", "INTEGER NOT NULL DEFAULT 0"],
  ["users", "sub", "TEXT"],
  ["messages", "reply_to", "INTEGER"],
  ["messages", "edited", "INTEGER"],
  ["messages", "deleted", "INTEGER NOT NULL DEFAULT 0"],
  ["messages", "reactions", "TEXT"],
  ["messages", "from_extra", "TEXT"],
];

const INDEXES = `
CREATE INDEX IF NOT EXISTS users_away ON users (away_since) WHERE posted = 0;
CREATE UNIQUE INDEX IF NOT EXISTS users_by_sub ON users (room, sub) WHERE sub IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_by_target ON events (room, target) WHERE target IS NOT NULL;
`;

function hasColumn(db: SqlDriver, table: string, column: string): boolean {
  try {
    db.all(`SELECT ${column} FROM ${table} LIMIT 0`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Create what is missing and migrate a v1 database in place. Of a v1 users table, a user who wrote a
 * message counts as a poster (never forgotten), and everyone else as away since `now` (nobody is
 * connected while a store opens).
 */
export function migrate(db: SqlDriver, now: number): void {
  db.exec(TABLES);
  const missing = ADDED.filter(([table, column]) => !hasColumn(db, table, column));
  if (missing.length > 0) {
    db.transaction(() => {
      for (const [table, column, definition] of missing)
        db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${definition}`);
      if (missing.some(([table, column]) => table === "users" && column === "posted")) {
        db.exec(
          "UPDATE users SET posted = 1 WHERE EXISTS (SELECT 1 FROM messages m WHERE m.room = users.room AND m.user_id = users.id)",
        );
        db.run("UPDATE users SET away_since = ?", now);
      }
    });
  }
  db.exec(INDEXES);
}
