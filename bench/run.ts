/**
 * `npm run bench`: Parley against raw servers on the same runtimes, side by side on one machine, as
 * ratios. Each server runs pinned to core 0, the load client (bench/load.ts) to core 1; server CPU and
 * memory come from /proc. Writes bench/results.json, docs/benchmarks.md and docs/benchmarks.svg.
 *
 * Workloads (bench/workloads.ts): fan-out (fanout32, fanout128, rooms100) and latency (latency100,
 * latency1000) on one server per peer; on a fresh server each, idle5000 (memory and connect time in rooms
 * of 100), join500/join1000/join5000 (everyone into one room: connect time and server CPU per join) and
 * restart (SIGTERM under thousands of reconnecting clients, the same server started again on the same
 * port and files, and the time until every client is back).
 *
 *   npm run bench                                  everything, median of 3 runs
 *   npm run bench -- --quick                       every peer and workload once, small
 *   npm run bench -- --peers=ws,parley-node        some peers (ids, or node|bun|deno|workers|parley|raw)
 *   npm run bench -- --workloads=fanout32 --runs=5 some workloads, more runs
 *   npm run bench -- --workloads=restart --restart-clients=500   a smaller restart storm
 *   npm run bench -- --no-docs                     results.json only
 *   npm run bench -- --no-docs --out=/tmp/r.json   a side run that leaves bench/results.json alone
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { renderChart } from "./chart.ts";
import { PEERS, type Peer, RAISED_LIMITS } from "./peers.ts";
import {
  freePort,
  killAll,
  pinned,
  quiet,
  resetPeak,
  type Server,
  startServer,
  treeCpuUs,
  treeStatusKiB,
} from "./proc.ts";
import { renderMarkdown, summaryTables } from "./report.ts";
import { type Cell, type Metrics, medians, type Results, type RunRecord } from "./results.ts";
import type { LoadJob, LoadResult, MarkName, ToChild, ToParent } from "./types.ts";
import { CONCURRENCY, type SizeOptions, titleOf, WORKLOADS, type Workload, type WorkloadId } from "./workloads.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

interface Options extends SizeOptions {
  runs: number;
  peers: Peer[];
  workloads: Workload[];
  pin: boolean;
  docs: boolean;
  /** Only render docs/ again from bench/results.json. */
  reportOnly: boolean;
  /** Where the results JSON goes. */
  out: string;
}

const HELP = `usage: npm run bench -- [--quick] [--runs=N] [--peers=LIST] [--workloads=LIST] [--measure-ms=N]
                        [--rate=MSG_PER_S] [--idle-room-size=N] [--restart-clients=N] [--no-pin]
                        [--no-docs] [--report-only] [--out=FILE]  (results JSON; default bench/results.json)
  peers:     ${PEERS.map((p) => p.id).join(", ")}  (or groups: node, bun, deno, workers, parley, raw)
  workloads: ${WORKLOADS.map((w) => w.id).join(", ")}
    fanout32, fanout128, rooms100   deliveries/s and server CPU per delivery
    latency100, latency1000         p50/p99 from each message's scheduled send time
    idle5000                        idle KiB/connection and connect time, rooms of 100 (quick: 1000)
    join500, join1000, join5000     N into one room: connect time, server CPU per join (quick: 100, 200, 1000)
    restart                         the server restarted under N clients in rooms of 100 (5000; quick 1000;
                                    --restart-clients=N): time until all are back; not on Workers`;

function positive(key: string, value: string): number {
  const n = Number(value);
  if (!(n > 0)) throw new Error(`${key} needs a positive number, got "${value}"`);
  return n;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = {
    quick: false,
    runs: 0,
    peers: PEERS,
    workloads: WORKLOADS,
    pin: true,
    docs: true,
    reportOnly: false,
    out: join(root, "bench", "results.json"),
  };
  for (const arg of argv) {
    const [key, value = ""] = arg.split("=", 2) as [string, string?];
    const list = value.split(",").filter(Boolean);
    if (key === "--quick") opts.quick = true;
    else if (key === "--runs") opts.runs = Number(value);
    else if (key === "--measure-ms") opts.measureMs = positive(key, value);
    else if (key === "--rate") opts.rate = positive(key, value);
    else if (key === "--idle-room-size") opts.idleRoomSize = positive(key, value);
    else if (key === "--restart-clients") opts.restartClients = positive(key, value);
    else if (key === "--no-pin") opts.pin = false;
    else if (key === "--no-docs") opts.docs = false;
    else if (key === "--report-only") opts.reportOnly = true;
    else if (key === "--out" && value) opts.out = resolve(value);
    else if (key === "--peers") {
      const known = new Set<string>([...PEERS.flatMap((p) => [p.id, p.runtime]), "parley", "raw"]);
      const unknown = list.filter((name) => !known.has(name));
      if (unknown.length) throw new Error(`unknown peer ${unknown.join(", ")}\n${HELP}`);
      opts.peers = PEERS.filter(
        (p) =>
          list.includes(p.id) ||
          list.includes(p.runtime) ||
          (list.includes("parley") && p.parley) ||
          (list.includes("raw") && !p.parley),
      );
    } else if (key === "--workloads") {
      const unknown = list.filter((name) => !WORKLOADS.some((w) => w.id === name));
      if (unknown.length) throw new Error(`unknown workload ${unknown.join(", ")}\n${HELP}`);
      opts.workloads = WORKLOADS.filter((w) => list.includes(w.id));
    } else {
      console.log(HELP);
      process.exit(key === "--help" || key === "-h" ? 0 : 2);
    }
  }
  if (opts.runs === 0) opts.runs = opts.quick ? 1 : 3;
  if (!Number.isInteger(opts.runs) || opts.runs < 1) throw new Error("--runs must be a whole number ≥ 1");
  if (opts.peers.length === 0 || opts.workloads.length === 0) throw new Error(`nothing selected\n${HELP}`);
  return opts;
}

/** The line of a command's output that `pick` matches (default: the last), or "?". */
function version(cmd: string, args: string[], pick = /.*\S.*$/): string {
  try {
    const out = execFileSync(cmd, args, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    const lines = out.trim().split("\n").reverse();
    const line = lines.find((l) => pick.test(l));
    return line?.match(pick)?.[1]?.trim() ?? line?.trim() ?? "?";
  } catch {
    return "?";
  }
}

function machine(): Record<string, string> {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const pkg = (name: string) =>
    (JSON.parse(readFileSync(join(root, "node_modules", name, "package.json"), "utf8")) as { version: string }).version;
  return {
    nproc: version("nproc", []),
    cpu: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? "?",
    memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    kernel: os.release(),
    node: process.version,
    deno: version("node_modules/.bin/deno", ["--version"], /^deno (\S+)/),
    bun: version("node_modules/.bin/bun", ["--version"]),
    wrangler: version("node_modules/.bin/wrangler", ["--version"]),
    "socket.io": pkg("socket.io"),
    ws: pkg("ws"),
  };
}

/** A restart (SIGTERM) gets this long to exit on its own: Parley waits up to 2 s for its sockets, then closes its store. */
const RESTART_GRACE_MS = 15_000;

/**
 * Run one load client to the end, sampling the server at each of its marks. `slot.server` is the server
 * under load; a restart replaces it there.
 */
function runLoad(job: LoadJob, slot: { server: Server }, pin: boolean, timeoutMs: number) {
  const command = pinned(
    { cmd: process.execPath, args: ["--import", "tsx", "bench/load.ts", JSON.stringify(job)] },
    pin ? "1" : undefined,
  );
  const child: ChildProcess = spawn(command.cmd, command.args, {
    cwd: root,
    stdio: ["ignore", "inherit", "pipe", "ipc"],
    detached: true,
  });
  let stderr = "";
  child.stderr?.on("data", (d) => (stderr = (stderr + String(d)).slice(-4000)));
  const samples: Record<string, number> = {};
  return new Promise<{ load: LoadResult; samples: Record<string, number> }>((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | undefined, load?: LoadResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-(child.pid as number), "SIGKILL");
        } catch {
          // Already gone.
        }
      }
      if (err || !load) reject(err ?? new Error("no result"));
      else resolve({ load, samples });
    };
    const timer = setTimeout(() => finish(new Error(`load client timed out after ${timeoutMs} ms`)), timeoutMs);
    const onMark = async (name: MarkName): Promise<ToChild> => {
      const pid = slot.server.pid;
      // Connecting (Parley's presence frames above all) may leave the server busy: measure from quiet.
      // After a join storm that can take a while, and the trailing work is part of what a join costs.
      if (name === "start" || name === "before" || name === "after" || name === "restart") {
        const maxMs = name === "after" ? 120_000 : 30_000;
        if (!(await quiet(pid, maxMs))) console.log(`  (the server was still busy ${maxMs / 1000} s into "${name}")`);
      }
      if (name === "start" || name === "before") {
        samples.cpu0 = treeCpuUs(pid);
        samples.t0 = performance.now();
      }
      if (name === "end" || name === "after") {
        samples.cpu1 = treeCpuUs(pid);
        samples.t1 = performance.now();
        samples.peakKiB = treeStatusKiB(pid, "VmHWM");
      }
      if (name === "before") samples.rss0 = treeStatusKiB(pid, "VmRSS");
      if (name === "after") samples.rss1 = treeStatusKiB(pid, "VmRSS");
      if (name === "restart") {
        const { server, times } = await slot.server.restart(RESTART_GRACE_MS);
        // The run ended (timed out) while the server restarted: nobody else knows of this one to stop it.
        if (settled) {
          await server.stop();
          return { type: "go" };
        }
        slot.server = server;
        // A new process: its CPU so far is its start-up, up to listening.
        samples.startCpuUs = treeCpuUs(server.pid);
        Object.assign(samples, times);
        return { type: "go", restart: times };
      }
      if (name === "back") {
        samples.backCpuUs = treeCpuUs(pid);
        samples.peakKiB = treeStatusKiB(pid, "VmHWM");
      }
      return { type: "go" };
    };
    child.on("message", (m: ToParent) => {
      if (m.type === "mark") {
        onMark(m.name).then(
          // A child killed at a timeout while the server was being sampled has no channel left to answer on.
          (go) => !settled && child.connected && child.send(go),
          (err: Error) => finish(err),
        );
      } else if (m.type === "result") finish(undefined, m.result);
      else finish(new Error(m.message));
    });
    child.on("exit", (code) => {
      // A result already settled it; otherwise the client died before it could say why.
      setTimeout(() => finish(new Error(`load client exited ${code}: ${stderr.trim()}`)), 100);
    });
  });
}

function metricsOf(load: LoadResult, s: Record<string, number>): { metrics: Metrics; cpu?: number } {
  const cpu = s.cpu1 !== undefined && s.cpu0 !== undefined ? s.cpu1 - s.cpu0 : undefined;
  // Server CPU in cores over the window between the marks: near 1.0 the server's core was the limit.
  const serverCpu =
    cpu !== undefined && s.t1 !== undefined && s.t0 !== undefined ? cpu / 1000 / (s.t1 - s.t0) : undefined;
  const peakMiB = s.peakKiB !== undefined ? s.peakKiB / 1024 : undefined;
  if (load.kind === "fanout") {
    return {
      cpu,
      metrics: {
        deliveriesPerSec: load.deliveries / load.seconds,
        cpuUsPerDelivery: cpu !== undefined ? cpu / load.deliveries : undefined,
        clientCpu: load.clientCpu,
        serverCpu,
        peakMiB,
        connectMs: load.connectMs,
      },
    };
  }
  if (load.kind === "latency") {
    return {
      cpu,
      metrics: {
        p50Ms: load.p50Ms,
        p99Ms: load.p99Ms,
        maxMs: load.maxMs,
        lost: load.lost,
        cpuUsPerDelivery: cpu !== undefined ? cpu / load.deliveries : undefined,
        clientCpu: load.clientCpu,
        serverCpu,
        peakMiB,
        connectMs: load.connectMs,
      },
    };
  }
  if (load.kind === "join") {
    return {
      cpu,
      metrics: {
        connections: load.connections,
        connectMs: load.connectMs,
        msPerJoin: load.connectMs / load.connections,
        cpuUsPerJoin: cpu !== undefined ? cpu / load.connections : undefined,
        clientCpu: load.clientCpu,
        peakMiB,
      },
    };
  }
  if (load.kind === "restart") {
    const { signalledAt, listeningAt } = load.restart;
    return {
      cpu: s.backCpuUs,
      metrics: {
        connections: load.clients,
        connectMs: load.connectMs,
        firstBackMs: load.firstBackMs,
        medianBackMs: load.medianBackMs,
        lastBackMs: load.lastBackMs,
        downMs: listeningAt - signalledAt,
        startCpuMs: s.startCpuUs !== undefined ? s.startCpuUs / 1000 : undefined,
        restartCpuMs: s.backCpuUs !== undefined ? s.backCpuUs / 1000 : undefined,
        ...(load.resumed !== undefined && { resumed: load.resumed }),
        maxAttempts: load.maxAttempts,
        medianAttempts: load.medianAttempts,
        clientCpu: load.clientCpu,
        peakMiB,
      },
    };
  }
  return {
    cpu,
    metrics: {
      perConnKiB: s.rss1 !== undefined && s.rss0 !== undefined ? (s.rss1 - s.rss0) / load.connections : undefined,
      connections: load.connections,
      rssBeforeMiB: s.rss0 !== undefined ? s.rss0 / 1024 : undefined,
      rssAfterMiB: s.rss1 !== undefined ? s.rss1 / 1024 : undefined,
      connectMs: load.connectMs,
      clientCpu: load.clientCpu,
      peakMiB,
    },
  };
}

function fmtLine(m: Metrics): string {
  const f = (x: number | undefined, d = 1) => (x === undefined ? "?" : x.toFixed(d));
  if (m.deliveriesPerSec !== undefined)
    return `${Math.round(m.deliveriesPerSec).toLocaleString("en-US")} deliveries/s, ${f(m.cpuUsPerDelivery, 2)} µs/delivery, server ${f(m.serverCpu, 2)} / client ${f(m.clientCpu, 2)} cores`;
  if (m.p50Ms !== undefined)
    return `p50 ${f(m.p50Ms, 2)} ms, p99 ${f(m.p99Ms, 2)} ms, lost ${m.lost}, server ${f(m.serverCpu, 2)} / client ${f(m.clientCpu, 2)} cores`;
  if (m.cpuUsPerJoin !== undefined)
    return `${m.connections} joined in ${f((m.connectMs ?? 0) / 1000, 2)} s, ${f(m.msPerJoin, 2)} ms and ${f(m.cpuUsPerJoin, 0)} µs server CPU per join`;
  if (m.lastBackMs !== undefined)
    return `${m.connections} back ${f((m.firstBackMs ?? 0) / 1000, 2)}–${f(m.lastBackMs / 1000, 2)} s after listening (down ${f((m.downMs ?? 0) / 1000, 2)} s), ${m.resumed !== undefined ? `${m.resumed} resumed, ` : ""}new server ${f(m.restartCpuMs, 0)} ms CPU (${f(m.startCpuMs, 0)} to start), tries ≤ ${m.maxAttempts}`;
  return `${f(m.perConnKiB, 2)} KiB/connection, ${m.connections} connected in ${f((m.connectMs ?? 0) / 1000, 2)} s`;
}

function writeDocs(results: Results): void {
  writeFileSync(join(root, "docs", "benchmarks.md"), renderMarkdown(results));
  writeFileSync(join(root, "docs", "benchmarks.svg"), renderChart(results));
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.reportOnly) {
    writeDocs(JSON.parse(readFileSync(join(root, "bench", "results.json"), "utf8")) as Results);
    console.log("docs/benchmarks.md and docs/benchmarks.svg rendered from bench/results.json");
    return;
  }
  // Read before pinning: `nproc` counts only the cores this process may use.
  const host = machine();
  let pin = opts.pin && os.availableParallelism() >= 2;
  if (pin) {
    try {
      // The orchestrator too stays off the server's core; it only wakes at marks and between runs.
      execFileSync("taskset", ["-p", "-c", "1", String(process.pid)], { stdio: "ignore" });
    } catch {
      pin = false;
    }
  }
  const startedAt = new Date();
  const args = process.argv.slice(2);
  const results: Results = {
    startedAt: startedAt.toISOString(),
    durationS: 0,
    command: `npm run bench${args.length ? ` -- ${args.join(" ")}` : ""}`,
    quick: opts.quick,
    runs: opts.runs,
    pinned: pin,
    peakReset: true,
    machine: host,
    limits: RAISED_LIMITS,
    workloads: opts.workloads.map((w) => ({ id: w.id, title: titleOf(w.spec(opts), opts.quick), spec: w.spec(opts) })),
    peers: opts.peers.map((p) => ({
      id: p.id,
      label: p.label,
      runtime: p.runtime,
      parley: p.parley,
      ...(p.baseline && { baseline: p.baseline }),
      ...(p.floors && { floors: p.floors }),
    })),
    cells: [],
  };
  const cells = new Map<string, Cell>();
  const cell = (w: WorkloadId, p: Peer) => {
    const key = `${w}/${p.id}`;
    let c = cells.get(key);
    if (!c) {
      c = { workload: w, peer: p.id, runs: [], median: {} };
      cells.set(key, c);
    }
    return c;
  };
  console.log(
    `parley bench: ${opts.peers.length} peers × ${opts.workloads.length} workloads × ${opts.runs} run(s)${opts.quick ? " (quick)" : ""}, ${pin ? "server on core 0, load on core 1" : "not pinned"}`,
  );

  // Runs are the outer loop, so that a slow minute on a shared machine touches every peer alike.
  for (let run = 1; run <= opts.runs; run++) {
    for (const peer of opts.peers) {
      const shared = opts.workloads.filter((w) => !w.freshServer);
      const groups = [shared, ...opts.workloads.filter((w) => w.freshServer).map((w) => [w])].filter((g) => g.length);
      for (const group of groups) {
        let server: Server | undefined;
        const dirs: string[] = [];
        for (const w of group) {
          const record: RunRecord = { run, metrics: {} };
          const began = Date.now();
          const label = () =>
            `[run ${run}/${opts.runs}] ${peer.id.padEnd(14)} ${w.id.padEnd(11)} ${`${((Date.now() - began) / 1000).toFixed(0)}s`.padStart(4)}`;
          const skipped = w.skip?.(peer.runtime);
          if (skipped) {
            record.skipped = skipped;
            if (run === 1) console.log(`${label()} skipped: ${skipped}`);
            cell(w.id, peer).runs.push(record);
            continue;
          }
          try {
            if (!server) {
              const dir = mkdtempSync(join(os.tmpdir(), "parley-bench-"));
              dirs.push(dir);
              const { command, env } = await peer.start(await freePort(), dir);
              server = await startServer(pinned(command, pin ? "0" : undefined), env, root);
            }
            // The previous workload's teardown may still be running while this one connects; that is
            // fine, because the load client's "start" mark waits for a quiet server before measuring.
            if (!resetPeak(server.pid)) results.peakReset = false;
            let spec = w.spec(opts);
            const cap = peer.maxConnections?.();
            if ((spec.kind === "idle" || spec.kind === "join") && cap !== undefined && spec.connections > cap)
              spec = { ...spec, connections: cap };
            const job: LoadJob = {
              port: server.port,
              dialect: peer.dialect,
              prefix: `${w.id}-${run}`,
              concurrency: CONCURRENCY,
              workload: spec,
            };
            // The fresh-server workloads connect thousands, some all into one room, and the restart waits
            // out a server's stop and start as well.
            const timeoutMs = (opts.quick ? 120_000 : 300_000) * (w.freshServer ? 2 : 1);
            const slot = { server };
            let ran: Awaited<ReturnType<typeof runLoad>>;
            try {
              ran = await runLoad(job, slot, pin, timeoutMs);
            } finally {
              server = slot.server;
            }
            const { load, samples } = ran;
            const { metrics, cpu } = metricsOf(load, samples);
            record.load = load;
            if (cpu !== undefined) record.serverCpuUs = cpu;
            record.metrics = metrics;
            console.log(`${label()} ${fmtLine(metrics)}`);
          } catch (err) {
            // The server's last words usually say why (a crash, a limit), so they go with the error.
            const tail = server?.output().trim().slice(-1500);
            record.error = `${(err as Error).message.slice(0, 2000)}${tail ? `\n--- server output (tail):\n${tail}` : ""}`;
            console.log(`${label()} FAILED: ${record.error.split("\n")[0]}`);
            // A failed workload may leave the server wedged: the next one gets a fresh server.
            await server?.stop();
            server = undefined;
          }
          cell(w.id, peer).runs.push(record);
        }
        await server?.stop();
        for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
      }
    }
  }

  for (const c of cells.values()) c.median = medians(c.runs);
  results.cells = [...cells.values()];
  results.durationS = Math.round((Date.now() - startedAt.getTime()) / 1000);
  writeFileSync(opts.out, `${JSON.stringify(results, null, 2)}\n`);
  if (opts.docs) writeDocs(results);
  console.log(`\n${summaryTables(results)}`);
  console.log(
    `done in ${results.durationS} s: ${opts.out}${opts.docs ? ", docs/benchmarks.md, docs/benchmarks.svg" : ""}`,
  );
}

for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}
main().catch((err) => {
  killAll();
  console.error(err);
  process.exit(1);
});
