/**
 * How to start each runtime's real server for an environment: one place for every suite
 * (conformance, browser, client, reliability).
 */
import { denoArgs, denoBinary } from "../../scripts/start-deno.ts";
import type { Command } from "./server.ts";
import { wranglerDev } from "./wrangler.ts";

export type RuntimeName = "node" | "deno" | "bun" | "workers";

export const commands: Record<RuntimeName, (env: Record<string, string>) => Command | Promise<Command>> = {
  node: () => ({ cmd: process.execPath, args: ["--enable-source-maps", "dist/node.mjs"] }),
  // Permissions are computed per server from its PARLEY_DB, exactly as `npm run start:deno` does.
  deno: (env) => ({ cmd: denoBinary(), args: denoArgs(env) }),
  bun: () => ({ cmd: "node_modules/.bin/bun", args: ["src/adapter/bun/index.ts"] }),
  workers: wranglerDev,
};

const PLATFORM = "on Workers the platform owns this (docs/protocol.md, 'Workers: where the platform decides'): ";
/** Why Workers skips a test, one reason per limit the platform owns; every suite's Workers file uses these. */
export const WORKERS_OWNS = {
  idle: `${PLATFORM}a Durable Object sets no timers and sends no pings, so that it can hibernate; the platform closes dead sockets`,
  sendQueue: `${PLATFORM}a Durable Object's sockets expose no send queue, so the send-queue limit is not enforced (and workerd's memory is not the server's to bound)`,
  shutdown: `${PLATFORM}a deploy or reset drops the sockets and clients resume; there is no process to stop`,
};
