/**
 * The Workers host's counts: with no /metrics, a minute's sums go out as one `metrics` log line and, when
 * a Workers Analytics Engine dataset is bound as PARLEY_ANALYTICS, as one data point per series.
 * (wrangler dev binds no dataset that records anything, so the binding is played by a fake here.)
 */
import assert from "node:assert/strict";
import { mock, test } from "node:test";
import { type AnalyticsDataset, workersTelemetry } from "../../src/adapter/workers/telemetry.ts";
import { loadConfig } from "../../src/config.ts";
import { meter } from "../../src/metrics.ts";

test("a minute's counts become one metrics line and one Analytics Engine data point per series", () => {
  mock.timers.enable({ apis: ["Date"], now: 1_000_000 });
  const lines: string[] = [];
  mock.method(console, "log", (line: string) => lines.push(line));
  const points: Parameters<AnalyticsDataset["writeDataPoint"]>[0][] = [];
  try {
    workersTelemetry(loadConfig({}), { writeDataPoint: (p) => points.push(p) });
    meter.count("entries", { kind: "message" });
    meter.count("entries", { kind: "message" });
    meter.observe("commit_seconds", 0.5);
    assert.deepEqual(points, [], "nothing before a minute has passed");
    mock.timers.tick(60_000);
    meter.count("rate_limited");
    assert.deepEqual(points, [
      { indexes: ["parley"], blobs: ["entries{kind=message}"], doubles: [2] },
      { indexes: ["parley"], blobs: ["commit_seconds_sum"], doubles: [0.5] },
      { indexes: ["parley"], blobs: ["commit_seconds_count"], doubles: [1] },
      { indexes: ["parley"], blobs: ["rate_limited"], doubles: [1] },
    ]);
    const metrics = lines.map((l) => JSON.parse(l)).filter((l) => l.event === "metrics");
    assert.equal(metrics.length, 1);
    assert.equal(metrics[0].level, "INFO");
    assert.deepEqual(metrics[0].counts, {
      "entries{kind=message}": 2,
      commit_seconds_sum: 0.5,
      commit_seconds_count: 1,
      rate_limited: 1,
    });
  } finally {
    mock.reset();
    mock.timers.reset();
  }
});
