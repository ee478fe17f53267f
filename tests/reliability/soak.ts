/**
 * Soak: hundreds of clients chatting steadily for minutes. Every client must get every message of its
 * room, in order, and the server's resident memory, once the clients have gone, must be back near
 * where it was with all of them connected and no traffic yet: what a long day of chat leaves behind
 * is what leaks.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { freshRoom } from "../helpers/fixtures.ts";
import { Load } from "../helpers/load.ts";
import { MiB, mib, sampleRss, treeRss } from "../helpers/memory.ts";
import type { Runtime, RuntimeName } from "../helpers/runtimes.ts";
import { type RunningServer, startServer, tempDir } from "../helpers/server.ts";
import { sleep } from "../helpers/wait.ts";

interface SoakPlan {
  rooms: number;
  perRoom: number;
  seconds: number;
}

// Each client says one message every 2.5 s, so each room of 10 gets 4 a second and every client stays
// far under the default rate bucket (burst 10, 2 a second), which the soak leaves as it is.
const EVERY_MS = 2500;
// Messages of 512 characters: on Node 24,000 come in over two minutes and 240,000 frames (140 MB) go
// out; on Deno and Bun half as many.
const TEXT_LENGTH = 512;
/**
 * RSS after the soak (every client gone, a few seconds of quiet) may exceed RSS before it (every client
 * connected, no traffic yet) by at most this much. Measured without a leak: +5 to 17 MiB on Deno, +5 MiB
 * on Bun, +16 to 50 MiB on Node; what remains is a heap grown to the traffic's peak, which a runtime need
 * not give back (no GC is forced: Node's RSS stayed flat through 25 s of quiet after the soak), and
 * SQLite's page cache. Node's heap grows for the first minute and then stays level (peaks of 135–155 MiB).
 * A server that kept a copy of each frame it sent went to +111 MiB on Bun's shorter soak (tried with
 * that leak put into Room.send); on Node the same leak is 140 MiB. A leak of one copy of each message
 * (7 MiB on Bun, 14 MiB on Node) is within the runtimes' own spread and not caught here.
 */
const RSS_BOUND = 80 * MiB;
/**
 * The leak check proper: RSS may rise by at most this much from the first half of the traffic (its
 * peak) to the second. A heap that grows to what the traffic needs has done so by the middle (Node: +2
 * to +11 MiB measured); a leak keeps growing at the same rate, half of its whole growth in the second
 * half (a frame kept per delivery: some 70 MiB on Node).
 */
const HALF_BOUND = 24 * MiB;
// After the last client has gone, this long for the runtime to settle before RSS is read again.
const QUIET_MS = 5000;

const PLANS: Record<RuntimeName, SoakPlan> = {
  node: { rooms: 50, perRoom: 10, seconds: 120 },
  // Shorter on Deno and Bun, to keep CI time reasonable; the same load.
  deno: { rooms: 50, perRoom: 10, seconds: 60 },
  bun: { rooms: 50, perRoom: 10, seconds: 60 },
  // Where the runtime owns memory (wrangler dev runs workerd as a child with its own allocator), the same
  // clients for a shorter time, checking delivery only.
  workers: { rooms: 50, perRoom: 10, seconds: 30 },
};

/** Register the soak for one runtime. */
export function soak(runtime: Runtime): void {
  const plan = PLANS[runtime.name];
  /** Bound RSS (VmRSS of the server process) only where the server is one process of ours. */
  const memory = !runtime.ownsMemory;
  const clients = plan.rooms * plan.perRoom;
  const name = memory
    ? `soak: ${clients} clients in ${plan.rooms} rooms for ${plan.seconds} s get every message; RSS stops growing and ends within ${RSS_BOUND / MiB} MiB of where it began`
    : `soak: ${clients} clients in ${plan.rooms} rooms for ${plan.seconds} s get every message`;

  describe("soak", () => {
    test(name, { timeout: (plan.seconds + 180) * 1000 }, async () => {
      // Every client has an address of its own (X-Forwarded-For, trusted here; CF-Connecting-IP on
      // Workers), so the per-address cap stays at its default.
      const env = { PARLEY_DB: `${tempDir()}/parley.db`, PARLEY_TRUST_PROXY: "1" };
      let server: RunningServer | undefined;
      let load: Load | undefined;
      try {
        server = await startServer(() => runtime.command(env), env);
        const pid = server.proc.pid as number;
        const log = (s: string) => console.log(`# ${runtime.name} soak: ${s}`);
        if (memory) log(`RSS ${mib(treeRss(pid))} with no client`);

        const rooms = Array.from({ length: plan.rooms }, () => freshRoom("soak"));
        load = await Load.start({
          wsUrl: server.wsUrl,
          rooms,
          perRoom: plan.perRoom,
          everyMs: EVERY_MS,
          textLength: TEXT_LENGTH,
          concurrency: 25,
          paused: true,
        });
        // Let the joins settle (presence frames, buffers) before the baseline.
        await sleep(2000);
        const before = memory ? treeRss(pid) : 0;
        if (memory) log(`RSS ${mib(before)} with ${clients} clients connected, before traffic`);

        const mark = load.mark();
        const during = memory ? sampleRss(pid, 1000) : undefined;
        load.resume();
        const started = Date.now();
        for (let left = plan.seconds; left > 0; left -= 15) {
          await sleep(Math.min(15, left) * 1000);
          const secs = (Date.now() - started) / 1000;
          const now = during ? `, RSS ${mib(during.samples.at(-1) ?? 0)}` : "";
          log(`${secs.toFixed(0)} s: ${load.acked} messages, ${load.received} deliveries${now}`);
        }
        const problems = await load.settle(30_000);
        during?.stop();
        // Each room got about 4 messages a second; at least one a second shows the traffic really ran.
        problems.push(...load.problems(mark, { minNew: plan.seconds }));
        // The server's own count agrees: every message it committed is one a client was acked for.
        for (const r of load.rooms) {
          const info = (await (await fetch(`${server.url}/api/rooms/${r.name}`)).json()) as { seq: number };
          if (info.seq !== r.topAck)
            problems.push(`room ${r.name}: the server is at seq ${info.seq}, acks reached ${r.topAck}`);
        }
        log(
          `${load.acked} messages, ${load.received} deliveries in ${((Date.now() - started) / 1000).toFixed(0)} s` +
            (during ? `; RSS peak during traffic ${mib(during.peak)}` : ""),
        );
        assert.deepEqual(problems, [], "every client gets every message of its room, in order");

        await load.close();
        load = undefined;
        // Wait for the server to have let every client go, then give the runtime a few quiet seconds.
        const deadline = Date.now() + 30_000;
        for (;;) {
          const members = await Promise.all(
            rooms.map(
              async (r) =>
                ((await (await fetch(`${server?.url}/api/rooms/${r}`)).json()) as { members: unknown[] }).members
                  .length,
            ),
          );
          if (members.every((n) => n === 0)) break;
          assert.ok(Date.now() < deadline, `members still in the rooms after the clients left: ${members.join(",")}`);
          await sleep(200);
        }
        await sleep(QUIET_MS);
        if (!memory) return;
        const afterRss = treeRss(pid);
        log(
          `RSS before ${mib(before)}, peak during ${mib(during?.peak ?? 0)}, after ${mib(afterRss)} (${afterRss >= before ? "+" : "-"}${mib(Math.abs(afterRss - before))}); bound +${mib(RSS_BOUND)}`,
        );
        const samples = during?.samples ?? [];
        const half = Math.floor(samples.length / 2);
        const firstPeak = Math.max(...samples.slice(0, half));
        const secondPeak = Math.max(...samples.slice(half));
        log(
          `RSS peak in the first half of the traffic ${mib(firstPeak)}, in the second ${mib(secondPeak)}; bound +${mib(HALF_BOUND)}`,
        );
        assert.ok(
          secondPeak - firstPeak < HALF_BOUND,
          `server RSS kept growing: its peak went from ${mib(firstPeak)} in the first half of the traffic to ${mib(secondPeak)} in the second; the bound is +${mib(HALF_BOUND)}`,
        );
        assert.ok(
          afterRss - before < RSS_BOUND,
          `server RSS went from ${mib(before)} to ${mib(afterRss)} over the soak; the bound is +${mib(RSS_BOUND)}`,
        );
      } finally {
        load?.terminate();
        await server?.stop("SIGKILL");
      }
    });
  });
}
