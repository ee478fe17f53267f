/**
 * What every process runtime (Node, Deno, Bun) does around its server, written once: read the
 * configuration, open the store, hold the rooms, build the app and each socket's connection, close
 * silent sockets, and stop gracefully on SIGINT or SIGTERM. An adapter hands in only what differs: its
 * SQLite, its upgrade, its socket calls and its listener (crossws's `createDemo(adapter)` is the model).
 */
import type { Context } from "hono";
import type { UpgradeWebSocket, WSContext } from "hono/ws";
import { createApp } from "./app.ts";
import { type Config, type Env, loadConfig } from "./config.ts";
import { log, setupLogging } from "./log.ts";
import { useMeter } from "./metrics.ts";
import { mountMetrics, prometheus } from "./prometheus.ts";
import type { Publish } from "./room.ts";
import { Rooms } from "./rooms.ts";
import { type SocketOps, socketConnections } from "./session.ts";
import { type SqlDriver, SqlStore } from "./store/store.ts";
import { WebhookWorker } from "./webhooks.ts";

/** A runtime's socket calls, plus the two the idle sweep needs where the runtime has no sweep of its own. */
export interface ProcessSocketOps<S> extends SocketOps<S> {
  ping?(socket: S): void;
  terminate?(socket: S): void;
}

/** Life signs for the idle sweep: an adapter reports what its sockets send, pongs included. */
export interface IdleTracker<S> {
  heard(socket: S): void;
  gone(socket: S): void;
}

/** A listening server, as the adapter started it. */
export interface Listener {
  /** Stop listening and let go of what is left, once every room has closed its sockets. */
  close(): Promise<void> | void;
}

/** The runtime-specific half of a process server, built once the configuration is known. */
export interface ProcessRuntime<S extends object> {
  // biome-ignore lint/suspicious/noExplicitAny: each runtime's helper has its own socket and option types.
  upgradeWebSocket: UpgradeWebSocket<any, any>;
  /** The long-lived per-socket object behind an event: the key of its connection and record. */
  socketOf(ws: WSContext): S;
  ops: ProcessSocketOps<S>;
  /** The peer address of a request, as the runtime reports it. */
  clientAddress(c: Context): string;
  /** Start serving `fetch`; call `onListen` with the port once listening. */
  listen(fetch: (request: Request) => Response | Promise<Response>, onListen: (port: number) => void): Listener;
}

/** What a process adapter gives the host. */
export interface ProcessAdapter<S extends object> {
  name: "node" | "deno" | "bun";
  env: Env;
  /** Open the database; `deferCommits` lets a turn's join writes share one commit (src/store/statements.ts). */
  openSqlite(path: string, deferCommits?: (fn: () => void) => void): SqlDriver;
  /** The runtime's native publish, when it has one (Bun); rooms then broadcast to all with it. */
  publish?: Publish;
  /** The idle timeout the sweep applies, where the runtime rounds the configured one (default: as set). */
  idleTimeoutMs?(config: Config): number;
  /**
   * Build the runtime's parts. `idle` is there when the runtime needs Parley's own idle sweep: the
   * adapter then reports every frame and pong to it, and gives `ops.ping` and `ops.terminate`.
   */
  create(config: Config, idle: IdleTracker<S>): ProcessRuntime<S>;
  /** Run `stop` once on SIGINT or SIGTERM. */
  onSignal(stop: () => void): void;
  exit(code: number): void;
}

/** A running process server. */
export interface ProcessServer {
  config: Config;
  store: SqlStore;
  rooms: Rooms;
  /** Close every socket with 1001, wait for them to go (at most `graceMs`), close the store, stop listening. */
  stop(graceMs?: number): Promise<void>;
}

/** Configure, open the store, hold the rooms and serve the app for one process. */
export function serveProcess<S extends object>(adapter: ProcessAdapter<S>): ProcessServer {
  const config = loadConfig(adapter.env);
  setupLogging(config.logLevel, config.logFormat);
  // Nobody is connected to a process that starts: every guest's clock runs from now.
  // A turn's joins (a new user, a user back or away) share one commit at its end, as its says do.
  const store = new SqlStore(adapter.openSqlite(config.db, setImmediate), { nobodyConnected: true });
  // setImmediate (Node, Deno and Bun all have it): the says of every socket read in one turn of the event
  // loop share one SQLite commit.
  // Webhooks: a worker in this process delivers each room's outbox after its commits.
  const webhooks = config.webhook && new WebhookWorker(store, config.webhook);
  const rooms = new Rooms(store, config, {
    defer: setImmediate,
    later: (fn, ms) => void setTimeout(fn, ms),
    publish: adapter.publish,
    committed: webhooks ? (room) => webhooks.notify(room) : undefined,
  });
  const sweep = new IdleSweep<S>(adapter.idleTimeoutMs?.(config) ?? config.idleTimeoutMs);
  const runtime = adapter.create(config, sweep);
  const connectionOf = socketConnections(runtime.ops);
  const metrics = prometheus({
    connections: () => rooms.connections,
    users: () => rooms.users,
    rooms: () => rooms.active,
    webhookBacklog: () => (webhooks ? store.backlog() : 0),
  });
  const app = createApp({
    upgradeWebSocket: runtime.upgradeWebSocket,
    rooms,
    config,
    connection: (ws) => connectionOf(runtime.socketOf(ws)),
    clientAddress: runtime.clientAddress,
    requests: metrics.requests,
  });
  useMeter(metrics.meter);
  mountMetrics(app, config, metrics);
  const listener = runtime.listen(app.fetch, (port) => {
    // The listening line stays plain on stdout: tests, the bench and scripts read the port from it.
    console.log(listeningLine(adapter.name, config.listenAddress, port));
    log.info("listening", { runtime: adapter.name, address: config.listenAddress, port });
  });
  const { ping, terminate } = runtime.ops;
  if (ping && terminate) sweep.start(ping, terminate);
  // Guests who never posted are forgotten within min(TTL, 60 s) of their TTL running out.
  const forget = setInterval(
    () => {
      try {
        rooms.forgetGuests(Date.now());
      } catch (err) {
        log.error("guest_sweep_failed", { error: (err as Error).message });
      }
    },
    Math.min(config.guestTtlMs, 60_000),
  );

  let stopping: Promise<void> | undefined;
  const stop = (graceMs = 2000) =>
    (stopping ??= (async () => {
      log.info("stopping", { count: rooms.connections });
      metrics.stop();
      sweep.stop();
      clearInterval(forget);
      webhooks?.stop();
      rooms.shutdown();
      const deadline = Date.now() + graceMs;
      while (rooms.active > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      // Every write is already committed (a message commits before it is sent, and a room commits what
      // it holds when its last socket leaves); closing the database checkpoints the WAL so the file is
      // whole on its own.
      store.close();
      await listener.close();
    })());
  adapter.onSignal(() => void stop().then(() => adapter.exit(0)));
  return { config, store, rooms, stop };
}

/**
 * Parley's own idle timeout, where the runtime's does not fit: only what the client sends counts as
 * life (a frame or a pong), never what the server sends it. Ping at half the timeout so a live client
 * answers in time; terminate one that stayed silent for the whole timeout.
 */
class IdleSweep<S> implements IdleTracker<S> {
  private readonly heardAt = new Map<S, number>();
  private timer: ReturnType<typeof setInterval> | undefined;
  constructor(private readonly timeoutMs: number) {}

  heard(socket: S): void {
    this.heardAt.set(socket, Date.now());
  }
  gone(socket: S): void {
    this.heardAt.delete(socket);
  }
  start(ping: (s: S) => void, terminate: (s: S) => void): void {
    this.timer = setInterval(
      () => {
        const now = Date.now();
        for (const [socket, at] of this.heardAt) {
          if (now - at >= this.timeoutMs) terminate(socket);
          else if (now - at >= this.timeoutMs / 2) ping(socket);
        }
      },
      Math.min(5000, this.timeoutMs / 4),
    );
  }
  stop(): void {
    clearInterval(this.timer);
  }
}

/** The line a server prints once it listens; tests and scripts read the port from it. */
export function listeningLine(runtime: string, listenAddress: string, port: number): string {
  const host = listenAddress.includes(":") ? `[${listenAddress}]` : listenAddress;
  return `parley (${runtime}) listening on http://${host}:${port}`;
}
