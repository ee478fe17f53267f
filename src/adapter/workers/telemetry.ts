/**
 * Logs and counts on Workers: JSON lines through `console.log` (Workers Logs and `wrangler tail` read
 * them), and, with no `/metrics` to scrape, the room engine's counts summed and written as one
 * `metrics` line a minute, plus a Workers Analytics Engine data point when `PARLEY_ANALYTICS` is bound.
 */
import type { Config } from "../../config.ts";
import { log, setupLogging } from "../../log.ts";
import { type Tally, tallyMeter, useMeter } from "../../metrics.ts";

/** The part of an Analytics Engine binding used here. */
export interface AnalyticsDataset {
  writeDataPoint(point: { blobs?: string[]; doubles?: number[]; indexes?: string[] }): void;
}

let done = false;
let logging = false;

/** Log as `config` says, or at the defaults (a configuration that failed to load still logs why). */
export function workersLogging(config?: Pick<Config, "logLevel" | "logFormat">): void {
  if (logging) return;
  logging = true;
  setupLogging(config?.logLevel ?? "info", config?.logFormat ?? "json", (line) => console.log(line.replace(/\n$/, "")));
}

/** Set up logging and the meter once per isolate (every object and the entry Worker in it share them). */
export function workersTelemetry(config: Config, analytics?: AnalyticsDataset): void {
  if (done) return;
  done = true;
  workersLogging(config);
  useMeter(
    tallyMeter((counts: Tally) => {
      log.info("metrics", { counts });
      // One point per series: the series name as the blob, its sum as the double, so a SQL query sums them.
      for (const [series, value] of Object.entries(counts)) {
        analytics?.writeDataPoint({ indexes: ["parley"], blobs: [series], doubles: [value] });
      }
    }),
  );
}
