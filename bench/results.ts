/**
 * The shape of bench/results.json, and the few calculations the report and the chart share.
 */
import type { PeerId } from "./peers.ts";
import type { LoadResult, WorkloadSpec } from "./types.ts";
import type { WorkloadId } from "./workloads.ts";

/** Flat per-run figures; the median of each is taken on its own. */
export type Metrics = Partial<
  Record<
    | "deliveriesPerSec"
    | "cpuUsPerDelivery"
    | "peakMiB"
    | "clientCpu"
    | "serverCpu"
    | "p50Ms"
    | "p99Ms"
    | "maxMs"
    | "lost"
    | "perConnKiB"
    | "connections"
    | "connectMs"
    | "rssBeforeMiB"
    | "rssAfterMiB"
    // join: server CPU from the quiet "before" to the quiet "after", per join; connect time per join.
    | "cpuUsPerJoin"
    | "msPerJoin"
    // restart: ms after the new server listened; its CPU from its start to listening, and to all back.
    | "firstBackMs"
    | "medianBackMs"
    | "lastBackMs"
    | "downMs"
    | "startCpuMs"
    | "restartCpuMs"
    | "resumed"
    | "maxAttempts"
    | "medianAttempts",
    number
  >
>;
export type MetricName = keyof Metrics;

export interface RunRecord {
  run: number;
  error?: string;
  /** Why this workload does not run on this peer (nothing was started). */
  skipped?: string;
  load?: LoadResult;
  /** Server tree CPU over the measured window, µs. */
  serverCpuUs?: number;
  metrics: Metrics;
}

export interface Cell {
  workload: WorkloadId;
  peer: PeerId;
  runs: RunRecord[];
  median: Metrics;
}

export interface Results {
  startedAt: string;
  durationS: number;
  command: string;
  quick: boolean;
  runs: number;
  /** Server on core 0, load client on core 1 (taskset); false when the machine has one core. */
  pinned: boolean;
  /** Whether VmHWM could be reset per workload (else peaks span the server's life so far). */
  peakReset: boolean;
  machine: Record<string, string>;
  limits: Record<string, string>;
  workloads: { id: WorkloadId; title: string; spec: WorkloadSpec }[];
  peers: { id: PeerId; label: string; runtime: string; parley: boolean; baseline?: PeerId; floors?: PeerId[] }[];
  cells: Cell[];
}

/** The median of the numbers that are finite; undefined if there are none. */
export function median(values: (number | undefined)[]): number | undefined {
  const xs = values.filter((v): v is number => v !== undefined && Number.isFinite(v)).sort((a, b) => a - b);
  if (xs.length === 0) return undefined;
  const mid = xs.length >> 1;
  return xs.length % 2 ? xs[mid] : ((xs[mid - 1] as number) + (xs[mid] as number)) / 2;
}

/** Median of every metric over the runs that succeeded. */
export function medians(runs: RunRecord[]): Metrics {
  const out: Metrics = {};
  const names = new Set(runs.flatMap((r) => Object.keys(r.metrics) as MetricName[]));
  for (const name of names) {
    const m = median(runs.filter((r) => !r.error && !r.skipped).map((r) => r.metrics[name]));
    if (m !== undefined) out[name] = m;
  }
  return out;
}

/** The cell of one workload and peer, if it ran. */
export function cellOf(results: Results, workload: WorkloadId, peer: PeerId | undefined): Cell | undefined {
  return results.cells.find((c) => c.workload === workload && c.peer === peer);
}

/** `peer`'s median over its baseline's median (or `against`'s) for one metric. */
export function ratio(
  results: Results,
  workload: WorkloadId,
  peer: PeerId,
  metric: MetricName,
  against?: PeerId,
): number | undefined {
  const base = against ?? results.peers.find((p) => p.id === peer)?.baseline;
  const a = cellOf(results, workload, peer)?.median[metric];
  const b = cellOf(results, workload, base)?.median[metric];
  return a === undefined || b === undefined || b === 0 ? undefined : a / b;
}
