/**
 * Processes for the bench: servers in their own process group (pinned to a core), free ports, and the
 * server's process tree read from /proc (CPU time, RSS, peak RSS), summed so that wrangler → workerd
 * counts as one server.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { sleep } from "../tests/helpers/wait.ts";
import type { RestartTimes } from "./types.ts";

export interface Command {
  cmd: string;
  args: string[];
}

export interface Server {
  pid: number;
  port: number;
  /** When it printed its listening line (epochMs). */
  listeningAt: number;
  output(): string;
  /** SIGTERM to the group, SIGKILL to whatever of the tree is left after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /**
   * Stop it as `stop` does and start the same command again, with the same environment: the same port
   * and the same files (Parley's PARLEY_DB), as an operator's restart would.
   */
  restart(graceMs?: number): Promise<{ server: Server; times: RestartTimes }>;
}

const live = new Set<Server>();

// The same helper the tests use: wrangler needs a port given, and the other peers take one too.
export { freePort } from "../tests/helpers/server.ts";

/**
 * Milliseconds since the epoch at performance.now()'s resolution: the orchestrator and the load client
 * are separate processes, and this is a clock they share.
 */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

/** `taskset -c CPU` in front of a command, or the command itself when `cpu` is undefined. */
export function pinned(command: Command, cpu: string | undefined): Command {
  return cpu === undefined ? command : { cmd: "taskset", args: ["-c", cpu, command.cmd, ...command.args] };
}

// Parley's line, the bench peers' line, and wrangler's.
const READY = /(?:listening on|Ready on) http:\/\/127\.0\.0\.1:(\d+)/;

/** Start a server in its own process group and resolve once it prints its listening line. */
export function startServer(
  command: Command,
  env: Record<string, string>,
  cwd: string,
  timeoutMs = 90_000,
): Promise<Server> {
  const proc: ChildProcess = spawn(command.cmd, command.args, {
    cwd,
    env: { ...process.env, HOST: "127.0.0.1", WRANGLER_SEND_METRICS: "false", NO_COLOR: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    // Its own group, so that one kill reaches wrangler's workerd too.
    detached: true,
  });
  let out = "";
  const append = (d: Buffer) => {
    // Keep the head (start-up errors) and the tail; a chatty server must not grow without bound.
    out = out.length > 200_000 ? out.slice(0, 50_000) + out.slice(-100_000) + String(d) : out + String(d);
  };
  proc.stdout?.on("data", append);
  proc.stderr?.on("data", append);
  let exitedAt = 0;
  const exited = new Promise<void>((resolve) =>
    proc.once("exit", () => {
      exitedAt = epochMs();
      resolve();
    }),
  );
  const pid = proc.pid as number;
  return new Promise<Server>((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop().then(() => reject(new Error(`${command.cmd} did not start in ${timeoutMs} ms:\n${out}`)));
    }, timeoutMs);
    const check = () => {
      const m = READY.exec(out);
      if (!m) return;
      clearTimeout(timer);
      proc.stdout?.off("data", check);
      proc.stderr?.off("data", check);
      const server: Server = { pid, port: Number(m[1]), listeningAt: epochMs(), output: () => out, stop, restart };
      live.add(server);
      resolve(server);
    };
    proc.stdout?.on("data", check);
    proc.stderr?.on("data", check);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${command.cmd} exited (${proc.exitCode ?? proc.signalCode}) before listening:\n${out}`));
    });
  });

  async function stop(graceMs = 3000): Promise<void> {
    // Remember the tree first: a child that outlives its parent and leaves the group is reachable by pid only.
    const tree = identities(processTree(pid));
    signal(-pid, "SIGTERM");
    const gone = await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)]);
    if (!gone) signal(-pid, "SIGKILL");
    await sleep(100);
    killSurvivors(tree);
    await Promise.race([exited, sleep(2000)]);
    for (const s of live) if (s.pid === pid) live.delete(s);
  }

  async function restart(graceMs?: number): Promise<{ server: Server; times: RestartTimes }> {
    const signalledAt = epochMs();
    await stop(graceMs);
    const server = await startServer(command, env, cwd, timeoutMs);
    return { server, times: { signalledAt, exitedAt, listeningAt: server.listeningAt } };
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

/** Each pid with its start time, so that a pid reused by someone else's process is never signalled. */
function identities(pids: number[]): Map<number, string | undefined> {
  return new Map(pids.map((p) => [p, statFields(p)?.[19]]));
}

function killSurvivors(tree: Map<number, string | undefined>): void {
  for (const [p, started] of tree) if (started !== undefined && statFields(p)?.[19] === started) signal(p, "SIGKILL");
}

/** Kill every server still running (on Ctrl-C or a crash of the orchestrator). */
export function killAll(): void {
  for (const s of live) {
    const tree = identities(processTree(s.pid));
    signal(-s.pid, "SIGKILL");
    killSurvivors(tree);
  }
  live.clear();
}

function readProc(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, "utf8");
  } catch {
    return undefined;
  }
}

/** Fields of /proc/PID/stat after the command name (which may hold spaces): [0] is state, [1] ppid. */
function statFields(pid: number): string[] | undefined {
  const stat = readProc(pid, "stat");
  return stat?.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** `pid` and all its descendants, from the ppid of every process in /proc. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const ppid = Number(statFields(Number(entry))?.[1]);
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid)?.push(Number(entry));
  }
  const tree: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift() as number;
    tree.push(p);
    queue.push(...(children.get(p) ?? []));
  }
  return tree;
}

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** CPU time (user + system) of the whole tree, in microseconds. */
export function treeCpuUs(pid: number): number {
  let ticks = 0;
  for (const p of processTree(pid)) {
    const f = statFields(p);
    // utime and stime are fields 14 and 15 of stat; index 11 and 12 after the name.
    if (f) ticks += Number(f[11]) + Number(f[12]);
  }
  return (ticks / clockTicks()) * 1e6;
}

/** A /proc/PID/status field (VmRSS, VmHWM) summed over the tree, in KiB. */
export function treeStatusKiB(pid: number, field: "VmRSS" | "VmHWM"): number {
  let kib = 0;
  for (const p of processTree(pid)) {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readProc(p, "status") ?? "");
    if (m) kib += Number(m[1]);
  }
  return kib;
}

/** Reset the peak RSS (VmHWM) of the tree to its current RSS, so a workload's peak is its own. */
export function resetPeak(pid: number): boolean {
  let ok = true;
  for (const p of processTree(pid)) {
    try {
      writeFileSync(`/proc/${p}/clear_refs`, "5");
    } catch {
      // Not permitted on this kernel: peaks then span the server's life so far (the report says so).
      ok = false;
    }
  }
  return ok;
}

/** Wait until the tree uses under 10% of a core for 200 ms (at most `maxMs`): the previous load is over. */
export async function quiet(pid: number, maxMs = 30_000): Promise<boolean> {
  const deadline = Date.now() + maxMs;
  let before = treeCpuUs(pid);
  while (Date.now() < deadline) {
    await sleep(200);
    const now = treeCpuUs(pid);
    if (now - before <= 20_000) return true;
    before = now;
  }
  return false;
}
