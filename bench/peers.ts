/**
 * The peers of one bench run: Parley on each runtime, and beside each a raw server on the same runtime
 * (plus Socket.IO on Node), all speaking the dialect bench/load.ts drives.
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { denoBinary } from "../scripts/start-deno.ts";
import { commands, type RuntimeName } from "../tests/helpers/runtimes.ts";
import { type Command, freePort } from "./proc.ts";
import type { Dialect } from "./types.ts";

export type PeerId =
  | "ws"
  | "socketio"
  | "bun"
  | "deno"
  | "do"
  | "do-relay"
  | "parley-node"
  | "parley-bun"
  | "parley-deno"
  | "parley-workers";

export interface Peer {
  id: PeerId;
  label: string;
  runtime: RuntimeName;
  dialect: Dialect;
  parley: boolean;
  /** The raw peer on the same runtime that ratios are taken against. */
  baseline?: PeerId;
  /** Further raw peers on the same runtime that the fan-out is also shown against. */
  floors?: PeerId[];
  /** The most sockets this peer can hold here, when that is below what a workload asks for. */
  maxConnections?: () => number;
  /** The command and its environment for a server on `port` whose files go in `dir`. */
  start(port: number, dir: string): Promise<{ command: Command; env: Record<string, string> }>;
}

/**
 * Limits Parley is started with, raised so that the bench measures throughput rather than the limits.
 * Everything else (SQLite history on a file, WAL, validation, presence) is as in production.
 */
export const RAISED_LIMITS: Record<string, string> = {
  PARLEY_RATE_BURST: "1000000000",
  PARLEY_RATE_PER_SEC: "1000000000",
  // PROTOCOL-v2 section 5: the frame budget, the connect rate and the guests per address group, raised
  // like v1's limits (the load comes from one address).
  PARLEY_FRAME_BURST: "1000000000",
  PARLEY_FRAME_PER_SEC: "1000000000",
  PARLEY_CONNECT_BURST: "1000000000",
  PARLEY_CONNECT_PER_SEC: "1000000000",
  PARLEY_MAX_MEMBERS_PER_IP: "1000000",
  PARLEY_MAX_CONNECTIONS_PER_IP: "0",
  PARLEY_MAX_MEMBERS: "100000",
  PARLEY_MAX_QUEUE_BYTES: String(64 * 1024 * 1024),
};

/**
 * Under wrangler dev every client socket costs workerd about six file descriptors (the entry worker,
 * its loopback to the user worker, the object), and workerd dies at `accept: Too many open files`
 * past its limit: with 20,000, at about 3,300 sockets. So the Workers peers hold what fits, with room.
 */
function workerdSockets(): number {
  let limit = 1024;
  try {
    limit = Number(execFileSync("sh", ["-c", "ulimit -n"], { encoding: "utf8" }).trim()) || limit;
  } catch {
    // Keep the common default.
  }
  return Math.max(100, Math.floor((limit - 500) / 6.5 / 100) * 100);
}

const node = (file: string): Command => ({ cmd: process.execPath, args: ["--import", "tsx", file] });

function wranglerPeer(config: string) {
  return async (port: number, dir: string) => ({
    command: {
      cmd: "node_modules/.bin/wrangler",
      args: [
        "dev",
        "--config",
        config,
        "--ip",
        "127.0.0.1",
        "--port",
        String(port),
        "--inspector-port",
        String(await freePort()),
        "--show-interactive-dev-session=false",
        "--persist-to",
        dir,
      ],
    },
    env: {},
  });
}

function parley(runtime: RuntimeName) {
  return async (port: number, dir: string) => {
    const env = { ...RAISED_LIMITS, PORT: String(port), HOST: "127.0.0.1", PARLEY_DB: join(dir, "parley.db") };
    // Exactly as the test suites start each runtime (tests/helpers/runtimes.ts).
    return { command: await commands[runtime](env), env };
  };
}

// Each raw peer right before its Parley sibling: the two run close together in time, and read so too.
export const PEERS: Peer[] = [
  {
    id: "ws",
    label: "raw ws (Node)",
    runtime: "node",
    dialect: "plain",
    parley: false,
    start: async (port) => ({ command: node("bench/peers/ws.ts"), env: { PORT: String(port) } }),
  },
  {
    id: "parley-node",
    label: "Parley (Node)",
    runtime: "node",
    dialect: "parley",
    parley: true,
    baseline: "ws",
    start: parley("node"),
  },
  {
    id: "socketio",
    label: "Socket.IO 4 (Node)",
    runtime: "node",
    dialect: "socketio",
    parley: false,
    baseline: "ws",
    start: async (port) => ({ command: node("bench/peers/socketio.ts"), env: { PORT: String(port) } }),
  },
  {
    id: "bun",
    label: "Bun.serve pub/sub",
    runtime: "bun",
    dialect: "plain",
    parley: false,
    start: async (port) => ({
      command: { cmd: "node_modules/.bin/bun", args: ["bench/peers/bun.ts"] },
      env: { PORT: String(port) },
    }),
  },
  {
    id: "parley-bun",
    label: "Parley (Bun)",
    runtime: "bun",
    dialect: "parley",
    parley: true,
    baseline: "bun",
    start: parley("bun"),
  },
  {
    id: "deno",
    label: "raw Deno.serve",
    runtime: "deno",
    dialect: "plain",
    parley: false,
    start: async (port) => ({
      command: {
        cmd: denoBinary(),
        args: ["run", "--no-prompt", "--allow-net=127.0.0.1", "bench/peers/deno.ts", String(port)],
      },
      env: {},
    }),
  },
  {
    id: "parley-deno",
    label: "Parley (Deno)",
    runtime: "deno",
    dialect: "parley",
    parley: true,
    baseline: "deno",
    start: parley("deno"),
  },
  {
    id: "do",
    label: "minimal DO (wrangler dev)",
    runtime: "workers",
    dialect: "plain",
    parley: false,
    maxConnections: workerdSockets,
    start: wranglerPeer("bench/peers/do/wrangler.toml"),
  },
  {
    id: "do-relay",
    label: "relay DO (wrangler dev)",
    runtime: "workers",
    dialect: "relay",
    parley: false,
    maxConnections: workerdSockets,
    start: wranglerPeer("bench/peers/do-relay/wrangler.toml"),
  },
  {
    id: "parley-workers",
    label: "Parley (Workers)",
    runtime: "workers",
    dialect: "parley",
    parley: true,
    baseline: "do",
    floors: ["do-relay"],
    maxConnections: workerdSockets,
    start: parley("workers"),
  },
];
