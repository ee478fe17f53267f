/**
 * A server process's resident memory, read from /proc (Linux), so reliability tests can bound it.
 */
import { readdirSync, readFileSync } from "node:fs";

export const MiB = 1024 * 1024;

/** VmRSS of one process in bytes, or undefined when it is gone (or this is not Linux). */
export function rssOf(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Every descendant of `pid` (children of each of its threads, recursively). */
function descendants(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tasks) {
    let children = "";
    try {
      children = readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8");
    } catch {}
    for (const c of children.split(" ").filter(Boolean).map(Number)) out.push(c, ...descendants(c));
  }
  return out;
}

/**
 * VmRSS of a process and all its descendants, in bytes. A server started through a launcher would
 * otherwise be measured as the launcher alone; for node, deno and bun this is the one process.
 */
export function treeRss(pid: number): number {
  const own = rssOf(pid);
  if (own === undefined) throw new Error(`no process ${pid} to measure (VmRSS from /proc/${pid}/status)`);
  return descendants(pid).reduce((sum, p) => sum + (rssOf(p) ?? 0), own);
}

/** Bytes as MiB with one decimal, for test output. */
export function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

export interface RssSampler {
  /** Highest RSS seen since the sampler started. */
  readonly peak: number;
  /** Every sample taken, in bytes. */
  readonly samples: number[];
  stop(): void;
}

/** Sample `treeRss(pid)` every `everyMs` until stopped (the peak is what a bound needs). */
export function sampleRss(pid: number, everyMs = 250): RssSampler {
  const samples: number[] = [treeRss(pid)];
  const timer = setInterval(() => {
    try {
      samples.push(treeRss(pid));
    } catch {
      clearInterval(timer);
    }
  }, everyMs);
  return {
    get peak() {
      return Math.max(...samples);
    },
    samples,
    stop: () => clearInterval(timer),
  };
}
