/**
 * Start Parley on Deno with the narrowest permissions that work: listening on HOST, the variables
 * Parley reads, and read/write only on the directory that holds PARLEY_DB (none for `:memory:`).
 * Runs under Node (`npm run start:deno`, through tsx) or Deno (`deno task start`).
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { ENV_NAMES } from "../src/config.ts";

// ws reads these two switches at load (to turn its optional native add-ons off): they read as unset
// rather than being granted, so Deno reads no other variable than Parley's own.
const WS_SWITCHES = ["WS_NO_BUFFER_UTIL", "WS_NO_UTF_8_VALIDATE"];

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The deno binary: this one when running under Deno, else the one the `deno` npm package brings. */
export function denoBinary(): string {
  if ("Deno" in globalThis) return Deno.execPath();
  const local = join(root, "node_modules", ".bin", "deno");
  return existsSync(local) ? local : "deno";
}

/** `deno run` arguments for an environment, with permissions computed from it. */
export function denoArgs(env: Record<string, string | undefined>): string[] {
  const db = env.PARLEY_DB?.trim() || "./data/parley.db";
  const host = env.HOST?.trim() || "127.0.0.1";
  // Besides listening, Parley connects to the hosts it is configured to fetch from: the webhook
  // receiver and the JWKS of the access tokens, and to no other.
  const outbound = ["PARLEY_WEBHOOK_URL", "PARLEY_JWKS_URL"].flatMap((name) => {
    try {
      return env[name]?.trim() ? [new URL(env[name]?.trim() as string).host] : [];
    } catch {
      return []; // The server itself refuses the bad value at start, with its name.
    }
  });
  const args = [
    "run",
    "--no-prompt",
    `--allow-net=${[host, ...outbound].join(",")}`,
    `--allow-env=${ENV_NAMES.join(",")}`,
    `--ignore-env=${WS_SWITCHES.join(",")}`,
  ];
  if (db !== ":memory:") {
    // The directory must exist before Deno starts: with write access to it alone, Deno could not create it.
    const dir = resolve(dirname(db));
    mkdirSync(dir, { recursive: true });
    args.push(`--allow-read=${dir}`, `--allow-write=${dir}`);
  }
  args.push(join(root, "src", "adapter", "deno", "index.ts"));
  return args;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const child = spawn(denoBinary(), denoArgs(process.env), { stdio: "inherit" });
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => child.kill(signal));
  child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}
