/**
 * `wrangler dev` (workerd) as a test server command.
 */
import { dirname } from "node:path";
import type { Command } from "./server.ts";
import { freePort, tempDir } from "./server.ts";

/** `wrangler dev` for an environment: PARLEY_* as --var, PARLEY_DB as the directory it persists to. */
export async function wranglerDev(env: Record<string, string>): Promise<Command> {
  const vars = Object.entries(env)
    .filter(([k]) => k.startsWith("PARLEY_") && k !== "PARLEY_DB")
    .flatMap(([k, v]) => ["--var", `${k}:${v}`]);
  const persist = !env.PARLEY_DB || env.PARLEY_DB === ":memory:" ? tempDir() : dirname(env.PARLEY_DB);
  return {
    cmd: "node_modules/.bin/wrangler",
    args: [
      "dev",
      "--ip",
      "127.0.0.1",
      "--port",
      // A given PORT lets a test restart the server where its clients will look for it.
      env.PORT && env.PORT !== "0" ? env.PORT : String(await freePort()),
      // Several wrangler dev at once would all want the default inspector port.
      "--inspector-port",
      String(await freePort()),
      "--show-interactive-dev-session=false",
      "--persist-to",
      persist,
      ...vars,
    ],
  };
}
