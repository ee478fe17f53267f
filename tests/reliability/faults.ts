/**
 * Faults: the server process dies by kill -9 in the middle of a stream of messages and comes back on
 * the same database and port. The protocol's promises must hold across it: a message that was acked was
 * committed (it is in history exactly once, under the seq its ack named), the numbering goes on from
 * where it stopped (no gap, no repeat, the same epoch), and a client that resumes with since + epoch +
 * token sees every message exactly once, including those it said while the server was down.
 *
 * The writers are the typed client (src/client/index.ts), because resuming, paging a gap and sending the
 * offline queue without posting twice are its job; the test holds what it delivered against what the
 * server stored. They reach the server through a relay that loses the server's last answers before the
 * kill: on loopback a dying server's acks otherwise always arrive, and then the case the client's refs
 * exist for (committed, but the ack never came) would never happen here.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { isDeepStrictEqual } from "node:util";
import type { AckFrame, Message } from "../../src/protocol/index.ts";
import type { Runtime } from "../helpers/runtimes.ts";
import { freePort, type RunningServer, startServer, tempDir } from "../helpers/server.ts";
import { eventually, sleep } from "../helpers/wait.ts";
import { Relay, roomInfo, storedHistory, Writer } from "../helpers/writers.ts";

const WRITERS = 20;
/** Room for the messages said while answers are lost (one every 20 ms), and for those said while down. */
const IN_FLIGHT = 16;
const OFFLINE = 16;
const ROOMS = 2;
const WRITE_MS = 1500;
/** How long the server's answers are lost before the kill: every writer fills its in-flight window. */
const LOST_MS = 150;
/** How long the server stays dead: long enough for every writer to notice and queue messages. */
const DOWN_MS = 400;
/** Writing after everyone is back, so that live traffic follows the replayed one. */
const AFTER_MS = 300;

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

/** Where a delivered or stored list first breaks 1..n, for a message that says more than "not equal". */
function firstBreak(seqs: number[]): string {
  const i = seqs.findIndex((s, k) => s !== k + 1);
  return i < 0 ? "none" : `at index ${i}: …${JSON.stringify(seqs.slice(Math.max(0, i - 3), i + 3))}…`;
}

export function faults(runtime: Runtime): void {
  describe("faults", () => {
    const servers = new Set<RunningServer>();
    const writers: Writer[] = [];
    const relays: Relay[] = [];
    const cleanUp = async () => {
      for (const w of writers.splice(0)) w.close();
      await Promise.all([...servers].map((s) => s.stop("SIGKILL")));
      servers.clear();
      await Promise.all(relays.splice(0).map((r) => r.close()));
    };
    after(cleanUp);

    const name =
      "kill -9 mid-stream: acked messages kept once, seq contiguous, epoch kept; resuming writers see each message once";
    test(name, { timeout: 60_000 }, async (t) => {
      const env = {
        PARLEY_DB: join(tempDir(), "parley.db"),
        // A fixed port: the writers' URL must lead to the restarted server.
        PORT: String(await freePort()),
        PARLEY_RATE_BURST: "1000000",
        PARLEY_RATE_PER_SEC: "1000000",
        // Writers say far more than a person would, and all reconnect from 127.0.0.1 after each kill;
        // the abuse suite tests the frame budget and the connect rate.
        PARLEY_FRAME_BURST: "1000000",
        PARLEY_FRAME_PER_SEC: "1000000",
        PARLEY_CONNECT_BURST: "1000000",
      };
      const start = async () => {
        const server = await startServer(() => runtime.command(env), env);
        servers.add(server);
        return server;
      };
      try {
        let server = await start();
        const relay = new Relay(server.port);
        relays.push(relay);
        await relay.listen();
        const rooms = Array.from({ length: ROOMS }, (_, i) => `faults-${process.pid}-${i}`);
        for (let i = 0; i < WRITERS; i++)
          writers.push(
            new Writer(relay.url, rooms[i % ROOMS], `w${i}`, { maxInFlight: IN_FLIGHT, maxOffline: OFFLINE }),
          );
        const inRoom = (room: string) => writers.filter((w) => w.room === room);
        // Everyone is in before anyone writes, so that every writer must be delivered 1..N.
        await eventually(
          () => writers.every((w) => w.live),
          () => `every writer live: ${writers.map((w) => w.client.state)}`,
          15_000,
        );
        const ids = writers.map((w) => w.client.me?.id);
        const epochs = new Map<string, string>();
        for (const room of rooms) epochs.set(room, (await roomInfo(server.url, room)).epoch);

        for (const w of writers) w.start();
        await sleep(WRITE_MS);
        relay.loseReplies();
        await sleep(LOST_MS);
        await server.stop("SIGKILL");
        servers.delete(server);
        // Taken after the process is gone: each of these acks was sent by the live server, after its commit.
        const acked = writers.map((w) => new Map(w.acks));
        const ackedCount = acked.reduce((n, m) => n + m.size, 0);
        assert.ok(ackedCount >= WRITERS * 5, `only ${ackedCount} acks before the kill`);

        await eventually(
          () => writers.every((w) => !w.live),
          () => `every writer to see the drop: ${writers.map((w) => w.client.state)}`,
          10_000,
        );
        await sleep(DOWN_MS);
        server = await start();

        // Straight after the restart: what the crash left is whole. The writers may already be back and
        // adding to it, which keeps the numbering contiguous but cannot bring back a lost acked message.
        for (const room of rooms) {
          const history = await storedHistory(server.url, room);
          const info = await roomInfo(server.url, room);
          assert.equal(info.epoch, epochs.get(room), `${room}: the epoch changed across the restart`);
          assert.deepEqual(
            history.map((m) => m.seq),
            range(history.length),
            `${room}: stored seqs are not 1..N, ${firstBreak(history.map((m) => m.seq))}`,
          );
          const byText = new Map<string, Message[]>();
          for (const m of history) byText.set(m.text, [...(byText.get(m.text) ?? []), m]);
          writers.forEach((w, i) => {
            if (w.room !== room) return;
            for (const [text, ack] of acked[i]) {
              const found = byText.get(text) ?? [];
              assert.equal(found.length, 1, `${room}: "${text}", acked as ${ack.seq}, is stored ${found.length} times`);
              assert.deepEqual(
                { seq: found[0].seq, ref: found[0].ref, from: found[0].from.id },
                { seq: ack.seq, ref: ack.ref, from: ids[i] },
                `${room}: "${text}" is not stored as it was acked`,
              );
            }
          });
        }

        await eventually(
          () => writers.every((w) => w.live),
          () => `every writer live again: ${writers.map((w) => w.client.state)}`,
          15_000,
        );
        await sleep(AFTER_MS);
        const finished = Promise.all(writers.map((w) => w.finish()));
        let settled = false;
        void finished.then(() => (settled = true));
        await eventually(
          () => settled,
          () => `every message acknowledged; ${writers.reduce((n, w) => n + w.client.queued().length, 0)} still queued`,
          15_000,
        );

        let offline = 0;
        let resumed = 0;
        let rejoins = 0;
        let settledByReplay = 0;
        for (const room of rooms) {
          const history = await storedHistory(server.url, room);
          const n = history.length;
          const info = await roomInfo(server.url, room);
          assert.equal(info.seq, n, `${room}: seq ${info.seq} but ${n} messages stored`);
          assert.equal(info.epoch, epochs.get(room), `${room}: the epoch changed`);
          assert.deepEqual(
            history.map((m) => m.seq),
            range(n),
            `${room}: stored seqs are not 1..N, ${firstBreak(history.map((m) => m.seq))}`,
          );

          // Every text said in the room is stored exactly once, and nothing else is.
          const said = inRoom(room).flatMap((w) => w.said);
          const count = new Map<string, number>();
          for (const m of history) count.set(m.text, (count.get(m.text) ?? 0) + 1);
          const wrong = said.filter((s) => count.get(s.text) !== 1);
          assert.deepEqual(
            wrong.map((s) => `${s.text}${s.offline ? " (said offline)" : ""} ×${count.get(s.text) ?? 0}`),
            [],
            `${room}: messages not stored exactly once`,
          );
          assert.equal(n, said.length, `${room}: ${n} stored, ${said.length} said`);
          offline += said.filter((s) => s.offline).length;

          const bySeq = new Map(history.map((m) => [m.seq, m]));
          for (const w of inRoom(room)) {
            const i = writers.indexOf(w);
            assert.deepEqual(w.failures, [], `${w.name}: says that failed`);
            assert.deepEqual(w.resets, [], `${w.name}: a new epoch`);
            assert.deepEqual(
              [...new Set(w.welcomes.map((x) => x.you.id))],
              [ids[i]],
              `${w.name}: the user id changed on a resume`,
            );
            for (const [text, ack] of w.acks as Map<string, AckFrame>) {
              const m = bySeq.get(ack.seq);
              assert.deepEqual([m?.text, m?.ref], [text, ack.ref], `${w.name}: ack ${ack.seq} names another message`);
            }
            resumed += w.welcomes.slice(1).filter((x) => x.resumed).length;
            rejoins += w.welcomes.length - 1;
            settledByReplay += [...w.acks.values()].filter((a) => !w.ackFrames.has(a.ref)).length;
          }

          // The resumed writers end up with exactly the stored history: each seq once, in order.
          await eventually(
            () => inRoom(room).every((w) => w.seqs.at(-1) === n),
            () => `${room}: every writer at seq ${n}: ${inRoom(room).map((w) => w.seqs.at(-1))}`,
            15_000,
          );
          for (const w of inRoom(room)) {
            assert.deepEqual(w.seqs, range(n), `${w.name}: delivered seqs are not 1..${n}, ${firstBreak(w.seqs)}`);
            const differs = w.delivered.find((m) => !isDeepStrictEqual(m, bySeq.get(m.seq)));
            assert.equal(differs, undefined, `${w.name}: delivered ${JSON.stringify(differs)} differs from history`);
          }
        }
        // Both halves of "posted exactly once" were really exercised: messages queued while the server was
        // down, and committed messages whose ack was lost, which only the replay can settle.
        assert.ok(offline > 0, "no message was said while the server was down");
        assert.ok(settledByReplay > 0, "no committed message had lost its ack");
        t.diagnostic(
          `${ackedCount} acked before the kill, ${settledByReplay} settled by the replay, ${offline} said while down, ` +
            `${resumed} of ${rejoins} rejoins resumed (the others paged the gap)`,
        );
      } finally {
        await cleanUp();
      }
    });
  });
}
