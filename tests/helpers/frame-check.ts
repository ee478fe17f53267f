/**
 * Every server frame a test client receives, checked against its JSON Schema in docs/schema/server/
 * (generated from src/protocol/server-schema.ts) with ajv, while a suite that turned it on runs: the
 * conformance suite does, and its last test asserts that nothing failed.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv, type ValidateFunction } from "ajv";

const dir = join(process.cwd(), "docs", "schema", "server");
let validators: Map<string, ValidateFunction> | undefined;

/** What was seen: frames per type, and the first failures (at most 20). */
export const seenFrames = { enabled: false, counts: new Map<string, number>(), failures: [] as string[] };

function compile(): Map<string, ValidateFunction> {
  const ajv = new Ajv({ strict: false, allErrors: false });
  const out = new Map<string, ValidateFunction>();
  for (const file of readdirSync(dir)) {
    out.set(file.replace(/\.json$/, ""), ajv.compile(JSON.parse(readFileSync(join(dir, file), "utf8"))));
  }
  return out;
}

/** Check one received frame, when checking is on. */
export function checkFrame(frame: { type?: unknown }): void {
  // A binary frame is a raw test's own doing: the server sends none, and the close code says so.
  if (!seenFrames.enabled || frame.type === "<binary>") return;
  validators ??= compile();
  const type = String(frame.type);
  seenFrames.counts.set(type, (seenFrames.counts.get(type) ?? 0) + 1);
  const validate = validators.get(type);
  const problem = validate
    ? validate(frame)
      ? undefined
      : JSON.stringify(validate.errors?.[0])
    : "no schema for this type";
  if (problem && seenFrames.failures.length < 20) {
    seenFrames.failures.push(`${type}: ${problem} in ${JSON.stringify(frame).slice(0, 300)}`);
  }
}
