/**
 * The reliability suite: limits under load, raw frames, faults, a soak and the abuse limits, written once and run against
 * a real server process of each runtime (node.test.ts, deno.test.ts, …). Each topic lives in its own
 * module; a runtime file only names the runtime. What a runtime does differently, and so which tests it
 * skips and why, is in tests/helpers/runtimes.ts.
 */
import { describe } from "node:test";
import type { Runtime } from "../helpers/runtimes.ts";
import { abuse } from "./abuse.ts";
import { faults } from "./faults.ts";
import { limitsUnderLoad } from "./limits.ts";
import { rawFrames } from "./raw-frames.ts";
import { soak } from "./soak.ts";
import { webhooks } from "./webhooks.ts";

/** Register the whole reliability suite for one runtime. */
export function reliability(runtime: Runtime): void {
  describe(`reliability: ${runtime.name}`, () => {
    limitsUnderLoad(runtime);
    rawFrames(runtime);
    faults(runtime);
    soak(runtime);
    abuse(runtime);
    webhooks(runtime);
  });
}
