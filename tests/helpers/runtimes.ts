/**
 * How to start each runtime's real server for an environment: one place for every suite
 * (conformance, browser, client, reliability).
 */
import { denoArgs, denoBinary } from "../../scripts/start-deno.ts";
import type { Command } from "./server.ts";
import { wranglerDev } from "./wrangler.ts";

export type RuntimeName = "node" | "deno" | "bun" | "workers";

export const commands: Record<RuntimeName, (env: Record<string, string>) => Command | Promise<Command>> = {
  node: () => ({ cmd: process.execPath, args: ["--import", "tsx", "src/adapter/node/index.ts"] }),
  // Permissions are computed per server from its PARLEY_DB, exactly as `npm run start:deno` does.
  deno: (env) => ({ cmd: denoBinary(), args: denoArgs(env) }),
  bun: () => ({ cmd: "node_modules/.bin/bun", args: ["src/adapter/bun/index.ts"] }),
  workers: wranglerDev,
};
