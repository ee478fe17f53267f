/**
 * What the orchestrator (run.ts) and the load client (load.ts) agree on: the jobs, the marks between
 * them, and the results.
 */

/**
 * How a peer frames the bench traffic: Parley's protocol, the plain JSON peers, Engine.IO v4, or the
 * relay peer's (a plain peer that sends each frame on as it came, so the client sends what it counts).
 */
export type Dialect = "parley" | "plain" | "socketio" | "relay";

/** N rooms of `size` clients; each client sends `perRound` messages a round, and every delivery is awaited. */
export interface FanoutSpec {
  kind: "fanout";
  rooms: number;
  size: number;
  perRound: number;
  warmupMs: number;
  measureMs: number;
}

/** One sender at `rate` messages/s to `receivers`, timed from each message's scheduled send time. */
export interface LatencySpec {
  kind: "latency";
  receivers: number;
  rate: number;
  warmupMs: number;
  measureMs: number;
}

/** `connections` idle sockets in rooms of at most `roomSize`. */
export interface IdleSpec {
  kind: "idle";
  connections: number;
  roomSize: number;
  /** No frame at any client for this long counts as settled (Parley's presence comes on a timer). */
  settleMs: number;
}

/** `connections` clients all into one room; the server's CPU is read from quiet to quiet. */
export interface JoinSpec {
  kind: "join";
  connections: number;
  /** No frame at any client for this long counts as settled (Parley's presence comes on a timer). */
  settleMs: number;
}

/** `clients` reconnecting clients in rooms of `roomSize`; the server is stopped and started again under them. */
export interface RestartSpec {
  kind: "restart";
  clients: number;
  roomSize: number;
  /** Give up when not every client is back this long after the new server listens. */
  backTimeoutMs: number;
}

export type WorkloadSpec = FanoutSpec | LatencySpec | IdleSpec | JoinSpec | RestartSpec;

export interface LoadJob {
  port: number;
  dialect: Dialect;
  /** Room names start with it, so workloads on one server never share a room. */
  prefix: string;
  /** Handshakes in flight at once. */
  concurrency: number;
  workload: WorkloadSpec;
}

/**
 * Where the load client pauses for the orchestrator to sample the server; at "restart" the orchestrator
 * stops the server and starts it again, at "back" every client is back on the new one.
 */
export type MarkName = "start" | "end" | "before" | "after" | "restart" | "back";

export type ToParent =
  | { type: "mark"; name: MarkName }
  | { type: "result"; result: LoadResult }
  | { type: "error"; message: string };

/** When the orchestrator restarted the server, in epoch milliseconds (`performance.timeOrigin` based). */
export interface RestartTimes {
  /** SIGTERM sent. */
  signalledAt: number;
  /** The old server's process exited. */
  exitedAt: number;
  /** The new server printed its listening line. */
  listeningAt: number;
}

export type ToChild = { type: "go"; restart?: RestartTimes };

export interface FanoutResult {
  kind: "fanout";
  connectMs: number;
  deliveries: number;
  seconds: number;
  rounds: number;
  /** Load client CPU over the measured window, in cores (1 = one core busy). */
  clientCpu: number;
}

export interface LatencyResult {
  kind: "latency";
  connectMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  samples: number;
  lost: number;
  /** All deliveries of the run (warm-up included), for the server's CPU per delivery. */
  deliveries: number;
  clientCpu: number;
}

export interface IdleResult {
  kind: "idle";
  connections: number;
  connectMs: number;
  clientCpu: number;
}

export interface JoinResult {
  kind: "join";
  connections: number;
  /** First handshake started to the last client's `welcome`. */
  connectMs: number;
  clientCpu: number;
}

export interface RestartResult {
  kind: "restart";
  clients: number;
  /** Connecting them all before the restart. */
  connectMs: number;
  restart: RestartTimes;
  /** Each client's first `welcome` on the new server, ms after it listened (sorted). */
  firstBackMs: number;
  medianBackMs: number;
  lastBackMs: number;
  /** Parley: welcomes with `resumed: true` (the raw peers have no resume). */
  resumed?: number;
  /** The most reconnect attempts any client made before it was back, and the median. */
  maxAttempts: number;
  medianAttempts: number;
  /** Load client CPU from the restart mark to the last client back, in cores. */
  clientCpu: number;
}

export type LoadResult = FanoutResult | LatencyResult | IdleResult | JoinResult | RestartResult;
