/**
 * What the orchestrator (run.ts) and the load client (load.ts) agree on: the jobs, the marks between
 * them, and the results.
 */

/** How a peer frames the bench traffic: Parley's protocol, the plain JSON peers, or Engine.IO v4. */
export type Dialect = "parley" | "plain" | "socketio";

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
  settleMs: number;
}

export type WorkloadSpec = FanoutSpec | LatencySpec | IdleSpec;

export interface LoadJob {
  port: number;
  dialect: Dialect;
  /** Room names start with it, so workloads on one server never share a room. */
  prefix: string;
  /** Handshakes in flight at once. */
  concurrency: number;
  workload: WorkloadSpec;
}

/** Where the load client pauses for the orchestrator to sample the server. */
export type MarkName = "start" | "end" | "before" | "after";

export type ToParent =
  | { type: "mark"; name: MarkName }
  | { type: "result"; result: LoadResult }
  | { type: "error"; message: string };

export type ToChild = { type: "go" };

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

export type LoadResult = FanoutResult | LatencyResult | IdleResult;
