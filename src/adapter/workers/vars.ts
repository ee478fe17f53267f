/**
 * Workers configuration: the same variable names as every runtime, from the Worker's `env`.
 */
import type { Env } from "../../config.ts";

/** A Worker's `[vars]` as strings, for `loadConfig`; bindings are left out. */
export function varsOf(env: object): Env {
  // wrangler.toml may give a limit as a TOML number (PARLEY_MAX_TEXT = 4000); it arrives as a number.
  return Object.fromEntries(
    Object.entries(env)
      .filter(([, v]) => typeof v === "string" || typeof v === "number" || typeof v === "boolean")
      .map(([k, v]) => [k, String(v)]),
  );
}
