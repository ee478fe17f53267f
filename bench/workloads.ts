/**
 * The workloads, full-size and quick. Windows are short on purpose: every figure is a ratio between
 * peers run side by side, so a window only has to be long enough to be stable.
 */
import type { WorkloadSpec } from "./types.ts";

/** Handshakes the load client keeps in flight while it connects. */
export const CONCURRENCY = 64;

export type WorkloadId =
  | "fanout32"
  | "fanout128"
  | "rooms100"
  | "latency100"
  | "latency1000"
  | "idle5000"
  | "join500"
  | "join1000"
  | "join5000"
  | "restart";

/**
 * No frame at any client for this long counts as settled: longer than Parley's presence interval
 * (PARLEY_PRESENCE_MS, 1 s by default), after which a big room's last `presence` frame goes out.
 */
const SETTLE_MS = 1500;

/** What the command line may change. */
export interface SizeOptions {
  quick: boolean;
  measureMs?: number;
  /** Messages per second for both latency workloads (default: the same 10,000 deliveries/s offered to each). */
  rate?: number;
  idleRoomSize?: number;
  /** Clients held through the restart (default 5000, quick 1000). */
  restartClients?: number;
}

export interface Workload {
  id: WorkloadId;
  /**
   * Idle memory is read as RSS growth and join CPU as the server's whole CPU, so they need a server
   * nothing else has run on; the restart replaces its server.
   */
  freshServer: boolean;
  spec(o: SizeOptions): WorkloadSpec;
  /** Why this workload cannot run on a runtime, or undefined where it can. */
  skip?(runtime: string): string | undefined;
}

const fanout =
  (rooms: number, size: number, perRound: number) =>
  (o: SizeOptions): WorkloadSpec => ({
    kind: "fanout",
    rooms,
    size,
    perRound,
    warmupMs: o.quick ? 100 : 300,
    measureMs: o.measureMs ?? (o.quick ? 500 : 1500),
  });

// Both latency workloads offer 10,000 deliveries/s, below what every peer sustains on one core here, so
// they measure the time a message takes rather than a queue growing for as long as the run lasts (that
// is what the fan-out workloads measure). Quick mode keeps 200 receivers: 1000 joining one Parley room
// costs half a million presence frames, tens of seconds under wrangler dev.
const latency =
  (receivers: number, rate: number, measureMs: number) =>
  (o: SizeOptions): WorkloadSpec => ({
    kind: "latency",
    receivers: o.quick ? Math.min(receivers, 200) : receivers,
    rate: o.rate ?? rate,
    warmupMs: o.quick ? 200 : 500,
    measureMs: o.measureMs ?? (o.quick ? 500 : measureMs),
  });

export const WORKLOADS: Workload[] = [
  { id: "fanout32", freshServer: false, spec: fanout(1, 32, 10) },
  { id: "fanout128", freshServer: false, spec: fanout(1, 128, 2) },
  { id: "rooms100", freshServer: false, spec: fanout(100, 10, 2) },
  { id: "latency100", freshServer: false, spec: latency(100, 100, 1500) },
  { id: "latency1000", freshServer: false, spec: latency(1000, 10, 2000) },
  {
    id: "idle5000",
    freshServer: true,
    // Rooms of 100 by default: in rooms of 1000, Parley's presence (every join is announced to every
    // member) makes connecting 5000 take minutes under wrangler dev, for the same per-socket memory.
    spec: (o) => ({
      kind: "idle",
      connections: o.quick ? 1000 : 5000,
      roomSize: o.idleRoomSize ?? 100,
      settleMs: SETTLE_MS,
    }),
  },
  // One room, so that every join meets every member: what a join costs as the room grows. Quick mode
  // keeps the 10× between the smallest and the largest, which the per-join CPU target compares.
  { id: "join500", freshServer: true, spec: join(500, 100) },
  { id: "join1000", freshServer: true, spec: join(1000, 200) },
  { id: "join5000", freshServer: true, spec: join(5000, 1000) },
  {
    id: "restart",
    freshServer: true,
    spec: (o) => ({
      kind: "restart",
      clients: o.restartClients ?? (o.quick ? 1000 : 5000),
      roomSize: 100,
      // The client's backoff caps at 30 s: past twice that, a client is not coming back.
      backTimeoutMs: 60_000,
    }),
    skip: (runtime) =>
      runtime === "workers"
        ? "a restart here is SIGTERM to a server process and the same process started again on its port; on Workers the platform owns that (a deploy or an eviction replaces objects, not a process), and stopping wrangler dev would measure wrangler's own start-up"
        : undefined,
  },
];

function join(connections: number, quick: number) {
  return (o: SizeOptions): WorkloadSpec => ({
    kind: "join",
    connections: o.quick ? quick : connections,
    settleMs: SETTLE_MS,
  });
}

/** A heading for a workload as it was sized in this run (quick sizes say so). */
export function titleOf(spec: WorkloadSpec, quick = false): string {
  const q = quick ? " (quick mode: sized down)" : "";
  if (spec.kind === "join") return `${spec.connections.toLocaleString("en-US")} joining one room${q}`;
  if (spec.kind === "restart")
    return `Restart under ${spec.clients.toLocaleString("en-US")} clients in rooms of ${spec.roomSize}${q}`;
  if (spec.kind === "fanout") {
    return spec.rooms === 1 ? `Fan-out, one room of ${spec.size}` : `${spec.rooms} rooms of ${spec.size}`;
  }
  if (spec.kind === "latency") return `Latency, ${spec.receivers} receivers at ${spec.rate} messages/s`;
  return `${spec.connections.toLocaleString("en-US")} idle connections`;
}
