/**
 * What the room engine counts, through a small interface the host plugs in: the process host exposes the
 * counts to Prometheus (src/prometheus.ts), a Durable Object writes them as log lines. The engine calls
 * `meter` and never learns which, so the core stays free of any metrics library.
 */

/** Labels of one series: a few low-cardinality values (a kind, a code), never a room or a user. */
export type Labels = Record<string, string | number>;

/** Counters, each a `parley_<name>_total` in Prometheus. */
export type CounterName =
  | "entries"
  | "frames_rejected"
  | "closes"
  | "slow_reader_closes"
  | "rate_limited"
  | "upgrades_refused"
  | "webhook_deliveries"
  | "webhook_failures";

/** Histograms: entries per commit, a commit's seconds, and members a broadcast went to. */
export type HistogramName = "commit_batch_size" | "commit_seconds" | "broadcast_fanout";

/** Where the counts go. */
export interface Meter {
  count(name: CounterName, labels?: Labels, by?: number): void;
  observe(name: HistogramName, value: number, labels?: Labels): void;
}

const nothing: Meter = { count: () => {}, observe: () => {} };
let current: Meter = nothing;

/** The meter of this process or isolate; counts go nowhere until a host plugs one in. */
export const meter: Meter = {
  count: (name, labels, by) => current.count(name, labels, by),
  observe: (name, value, labels) => current.observe(name, value, labels),
};

/** Plug in where the counts go (once, at start; again replaces it). */
export function useMeter(m: Meter): void {
  current = m;
}

/** Counts summed since the last flush, by series (`name` or `name{label=value}`). */
export type Tally = Record<string, number>;

/**
 * A meter for a host with no scraper (a Durable Object): it sums the counts and, at the first count at
 * least `everyMs` after the last flush, hands the sums to `flush` (a log line, a data point). No timer:
 * one would keep an object from hibernating.
 */
export function tallyMeter(flush: (tally: Tally) => void, everyMs = 60_000, now = Date.now): Meter {
  let tally: Tally = {};
  let last = now();
  const add = (key: string, by: number) => {
    tally[key] = (tally[key] ?? 0) + by;
    const t = now();
    if (t - last < everyMs) return;
    last = t;
    const out = tally;
    tally = {};
    flush(out);
  };
  const series = (name: string, labels?: Labels) =>
    labels && Object.keys(labels).length
      ? `${name}{${Object.entries(labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(",")}}`
      : name;
  return {
    count: (name, labels, by = 1) => add(series(name, labels), by),
    // A histogram becomes its count and its sum, which is what a dashboard of log lines can add up.
    observe: (name, value) => {
      tally[`${name}_sum`] = (tally[`${name}_sum`] ?? 0) + value;
      add(`${name}_count`, 1);
    },
  };
}
