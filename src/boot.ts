/**
 * What every process runtime (Node, Deno, Bun) does around its server: read the configuration, open
 * the store, host the rooms, and stop gracefully. The runtime-specific parts come in as functions.
 */
import { type Config, type Env, loadConfig } from "./config.ts";
import { Rooms, type RoomsOptions } from "./rooms.ts";
import { type SqlDriver, SqlStore } from "./store/store.ts";

export interface Parley {
  config: Config;
  store: SqlStore;
  rooms: Rooms;
  /** Close every socket with 1001, wait for them to go (at most `graceMs`), then close the store. */
  shutdown(graceMs?: number): Promise<void>;
}

/** Configure, open the store and host the rooms for one process, with the runtime's own `options`. */
export function boot(env: Env, openSqlite: (path: string) => SqlDriver, options: RoomsOptions = {}): Parley {
  const config = loadConfig(env);
  const store = new SqlStore(openSqlite(config.db));
  // setImmediate (Node, Deno and Bun all have it): the says of every socket read in one turn of the event
  // loop share one SQLite commit.
  const rooms = new Rooms(store, config, { defer: setImmediate, ...options });
  let stopping: Promise<void> | undefined;
  const shutdown = (graceMs = 2000) =>
    (stopping ??= (async () => {
      rooms.shutdown();
      const deadline = Date.now() + graceMs;
      while (rooms.active > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      // Every write is already committed (a message commits before it is sent, and a room commits what
      // it holds when its last socket leaves); closing the database checkpoints the WAL so the file is
      // whole on its own.
      store.close();
    })());
  return { config, store, rooms, shutdown };
}

/** The line a server prints once it listens; tests and scripts read the port from it. */
export function listeningLine(runtime: string, host: string, port: number): string {
  return `parley (${runtime}) listening on http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}
