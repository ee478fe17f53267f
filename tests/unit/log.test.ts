/**
 * The structured log (src/log.ts) and the tally meter (src/metrics.ts) at the unit level: the line's
 * shape in each format, the level filter, the settings' validation, and when a tally is flushed.
 */
import assert from "node:assert/strict";
import { afterEach, describe, test } from "node:test";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { log, setupLogging } from "../../src/log.ts";
import { tallyMeter } from "../../src/metrics.ts";

describe("structured logs", () => {
  afterEach(() => setupLogging("info", "json", () => {}));

  test("json: one object per line, with time, level, event and the fields, flattened; below the level, nothing", () => {
    const lines: string[] = [];
    setupLogging("info", "json", (line) => lines.push(line));
    log.info("closed", { room: "r", uid: "7", code: 1013, reason: "slow_reader" });
    log.debug("joined", { room: "r" });
    assert.equal(lines.length, 1, "debug is below info");
    assert.ok(lines[0]?.endsWith("\n"), "a line");
    const line = JSON.parse(lines[0] as string);
    assert.equal(typeof line["@timestamp"], "string");
    assert.equal(line.level, "INFO");
    assert.equal(line.event, "closed");
    assert.deepEqual([line.room, line.uid, line.code, line.reason], ["r", "7", 1013, "slow_reader"]);
  });

  test("pretty: the time, the level, the event and key=value fields on one line", () => {
    const lines: string[] = [];
    setupLogging("debug", "pretty", (line) => lines.push(line));
    log.debug("joined", { room: "lobby", uid: "3", error: "two words" });
    assert.match(lines[0] as string, /^\d\d:\d\d:\d\d\.\d{3} DEBUG\s+joined room=lobby uid=3 error="two words"$/);
  });

  test("PARLEY_LOG_LEVEL and PARLEY_LOG_FORMAT: defaults info and json; anything else stops the server", () => {
    assert.deepEqual([loadConfig({}).logLevel, loadConfig({}).logFormat], ["info", "json"]);
    const c = loadConfig({ PARLEY_LOG_LEVEL: "WARN", PARLEY_LOG_FORMAT: "pretty" });
    assert.deepEqual([c.logLevel, c.logFormat], ["warn", "pretty"]);
    assert.throws(() => loadConfig({ PARLEY_LOG_LEVEL: "verbose" }), ConfigError);
    assert.throws(() => loadConfig({ PARLEY_LOG_FORMAT: "xml" }), ConfigError);
    assert.throws(() => loadConfig({ PARLEY_METRICS_TOKEN: "short" }), ConfigError);
  });
});

describe("tally meter (Workers)", () => {
  test("sums counts by series and hands them over at the first count a minute after the last flush", () => {
    let now = 0;
    const flushed: Record<string, number>[] = [];
    const meter = tallyMeter(
      (t) => flushed.push(t),
      60_000,
      () => now,
    );
    meter.count("entries", { kind: "message" });
    meter.count("entries", { kind: "message" }, 2);
    meter.observe("commit_batch_size", 3);
    now = 59_999;
    meter.count("rate_limited");
    assert.equal(flushed.length, 0);
    now = 60_000;
    meter.count("rate_limited");
    assert.deepEqual(flushed, [
      {
        "entries{kind=message}": 3,
        commit_batch_size_sum: 3,
        commit_batch_size_count: 1,
        rate_limited: 2,
      },
    ]);
    meter.count("rate_limited");
    assert.equal(flushed.length, 1, "a new minute starts");
  });
});
