/**
 * The workloads, full-size and quick. Windows are short on purpose: every figure is a ratio between
 * peers run side by side, so a window only has to be long enough to be stable.
 */
import type { WorkloadSpec } from "./types.ts";

/** Handshakes the load client keeps in flight while it connects. */
export const CONCURRENCY = 64;

export type WorkloadId = "fanout32" | "fanout128" | "rooms100" | "latency100" | "latency1000" | "idle5000";

/** What the command line may change. */
export interface SizeOptions {
  quick: boolean;
  measureMs?: number;
  /** Messages per second for both latency workloads (default: the same 10,000 deliveries/s offered to each). */
  rate?: number;
  idleRoomSize?: number;
}

export interface Workload {
  id: WorkloadId;
  /** Idle memory is read as RSS growth, so it needs a server nothing else has run on. */
  freshServer: boolean;
  spec(o: SizeOptions): WorkloadSpec;
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
      settleMs: 300,
    }),
  },
];

/** A heading for a workload as it was sized in this run. */
export function titleOf(spec: WorkloadSpec): string {
  if (spec.kind === "fanout") {
    return spec.rooms === 1 ? `Fan-out, one room of ${spec.size}` : `${spec.rooms} rooms of ${spec.size}`;
  }
  if (spec.kind === "latency") return `Latency, ${spec.receivers} receivers at ${spec.rate} messages/s`;
  return `${spec.connections.toLocaleString("en-US")} idle connections`;
}
