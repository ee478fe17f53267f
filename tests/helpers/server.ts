/**
 * Spawn a real Parley server process on a free port and wait until it listens.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Command {
  cmd: string;
  args: string[];
}

/** How to start a server: a command, or a function that makes one afresh for each try. */
export type CommandSource = Command | (() => Command | Promise<Command>);

export interface RunningServer {
  /** http://127.0.0.1:PORT */
  url: string;
  /** ws://127.0.0.1:PORT */
  wsUrl: string;
  port: number;
  proc: ChildProcess;
  /** Everything the server printed so far. */
  output(): string;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string>;
  /** Send a signal and wait for the exit. */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/** A fresh temporary directory for a test's database. */
export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "parley-test-"));
}

/** A port that was free a moment ago (for servers that cannot take port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

// Parley's own line, or wrangler's.
const READY = /(?:listening on|Ready on) http:\/\/127\.0\.0\.1:(\d+)/;
// What Node, Bun, Deno and wrangler print when the port is taken.
const IN_USE = /address already in use|EADDRINUSE/i;
const TRIES = 5;

/** The server exited before listening because its port was taken. */
class PortInUse extends Error {}

/**
 * Start `command` with `env` (PORT=0 unless given) and resolve once it prints its listening line.
 *
 * wrangler cannot listen on port 0, so its port comes from freePort(): free a moment ago, but another
 * server starting in parallel can bind it before wrangler does, and a restart on a fixed port can find
 * the killed server's socket not yet released. Either way the server exits at once saying the address is
 * in use, so that case alone is tried again, after a pause that grows. A function `command` is called
 * again for each try, so wrangler's port (chosen inside it) is a new one; a PORT given in `env` stays.
 */
export async function startServer(
  command: CommandSource,
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<RunningServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(typeof command === "function" ? await command() : command, env, timeoutMs);
    } catch (e) {
      if (!(e instanceof PortInUse) || attempt === TRIES) throw e;
      await new Promise((r) => setTimeout(r, 300 * attempt));
    }
  }
}

async function startOnce(command: Command, env: Record<string, string>, timeoutMs: number): Promise<RunningServer> {
  // Its own process group, so that a kill reaches the children too (wrangler runs workerd). A test server
  // must not reload on a file change: wrangler's config watcher is off (the rest, see wrangler.ts).
  const proc = spawn(command.cmd, command.args, {
    env: {
      ...process.env,
      PORT: "0",
      HOST: "127.0.0.1",
      WRANGLER_SEND_METRICS: "false",
      WRANGLER_CI_DISABLE_CONFIG_WATCHING: "true",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let out = "";
  proc.stdout?.on("data", (d) => (out += d));
  proc.stderr?.on("data", (d) => (out += d));
  const exited = new Promise<number | string>((resolve) =>
    proc.on("exit", (code, signal) => resolve(code ?? signal ?? "unknown")),
  );
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const check = () => {
      const m = READY.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    proc.stdout?.on("data", check);
    proc.stderr?.on("data", check);
    exited.then((code) => {
      clearTimeout(timer);
      if (READY.test(out)) return;
      const Failure = IN_USE.test(out) ? PortInUse : Error;
      // wrangler may have left its workerd behind: the group goes before any next try.
      try {
        process.kill(-(proc.pid as number), "SIGKILL");
      } catch {
        // The group is gone already.
      }
      reject(new Failure(`server exited (${code}) before listening:\n${out}`));
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}`,
    port,
    proc,
    output: () => out,
    exited,
    stop(signal = "SIGTERM") {
      if (proc.exitCode === null && proc.signalCode === null) {
        try {
          process.kill(-(proc.pid as number), signal);
        } catch {
          proc.kill(signal);
        }
      }
      return exited;
    },
  };
}
