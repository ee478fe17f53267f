/**
 * The reliability suite: limits under load, raw frames, faults and a soak, written once and run against
 * a real server process of each runtime (node.test.ts, deno.test.ts, …). Each topic lives in its own
 * module; a runtime file only names the runtime and its skips, each with its reason.
 */
import { describe } from "node:test";
import type { Command } from "../helpers/server.ts";
import { faults } from "./faults.ts";
import { limitsUnderLoad } from "./limits.ts";
import { rawFrames } from "./raw-frames.ts";
import { soak } from "./soak.ts";

export interface ReliabilityRuntime {
  name: "node" | "deno" | "bun" | "workers";
  command: (env: Record<string, string>) => Command | Promise<Command>;
  /** Tests this runtime cannot pass, by name, each with the reason (printed by the runner). */
  skip?: Record<string, string>;
}

/** Register the whole reliability suite for one runtime. */
export function reliability(runtime: ReliabilityRuntime): void {
  describe(`reliability: ${runtime.name}`, () => {
    limitsUnderLoad(runtime);
    rawFrames(runtime);
    faults(runtime);
    soak(runtime);
  });
}
