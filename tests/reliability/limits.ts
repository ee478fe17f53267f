/**
 * Limits under load: each limit of docs/protocol.md is proven while the server is busy with other
 * clients (30 of them in 3 rooms, each saying something every 100 ms), and each test then checks that
 * none of those clients was disturbed: no seq skipped or repeated, no error, no close, and every
 * acked message of their room reached each of them.
 */
import assert from "node:assert/strict";
import type net from "node:net";
import { after, afterEach, before, describe } from "node:test";
import { Client, type ClientOptions, type Frame, join, refusedStatus, terminateAll } from "../helpers/client.ts";
import { freshRoom, fromAddress, nextAddress, sayJson } from "../helpers/fixtures.ts";
import { Load, type Mark } from "../helpers/load.ts";
import { MiB, mib, sampleRss, treeRss } from "../helpers/memory.ts";
import { idleTimeoutMs, type Runtime, testsWithTimeout } from "../helpers/runtimes.ts";
import { type RunningServer, startServer, tempDir } from "../helpers/server.ts";
import { retry, within } from "../helpers/wait.ts";
import { storedHistory } from "../helpers/writers.ts";

const MAX_PER_ADDRESS = 3;
// Above the load's 10 per room, so a test may add its own clients to a load room.
const MAX_MEMBERS = 16;
const MAX_STRIKES = 30;
const IDLE_MS = 3000;
const MAX_QUEUE = 65536;
const MAX_TEXT = 8000;

// The idle timeout stays at its default (60 s) here, far from any test's length: a paused slow reader
// is silent too, and must meet the send-queue limit, not this one. The idle test has a server of its own.
// The load comes from 30 addresses of its own (X-Forwarded-For, trusted here; CF-Connecting-IP on
// Workers), so the per-address cap of 3 only ever counts a test's own connections. The rate bucket
// is generous: the load says 10 messages a second per connection, and the slow-reader writer more.
const ENV = {
  PARLEY_TRUST_PROXY: "1",
  PARLEY_MAX_CONNECTIONS_PER_IP: String(MAX_PER_ADDRESS),
  PARLEY_MAX_MEMBERS: String(MAX_MEMBERS),
  PARLEY_MAX_STRIKES: String(MAX_STRIKES),
  PARLEY_MAX_QUEUE_BYTES: String(MAX_QUEUE),
  PARLEY_MAX_TEXT: String(MAX_TEXT),
  PARLEY_RATE_BURST: "100000",
  PARLEY_RATE_PER_SEC: "100000",
  // The slow-reader writer says more than a person would, and the tests open hundreds of sockets; the
  // abuse suite tests the frame budget and the connect rate.
  PARLEY_FRAME_BURST: "100000",
  PARLEY_FRAME_PER_SEC: "100000",
  PARLEY_CONNECT_BURST: "100000",
  // History is kept in the database, not in the heap, but a small limit keeps the file (and SQLite's
  // page cache) from growing with the megabytes the slow-reader test pushes.
  PARLEY_HISTORY_LIMIT: "500",
};

const LOAD = { perRoom: 10, everyMs: 100 };
/** Messages each load client must have had since a test began before the load is checked. */
const MIN_NEW = 20;

/** Messages of ~7 KB pushed at a room with everyone reading, before the baseline: 7 MiB. */
const SLOW_WARMUP = 1000;
/** Messages of ~7 KB pushed at a room with a paused reader: 60 MiB in all. */
const SLOW_MESSAGES = 9000;
/**
 * How much the server's RSS may grow while that happens. Without the send-queue limit a server keeps
 * every frame the paused reader has not taken: RSS grew by 69–80 MiB for these 60 MiB on Node, Deno
 * and Bun (measured with PARLEY_MAX_QUEUE_BYTES at 1 GB). With the limit it keeps 64 KiB for that
 * reader, and what remains is the runtime's own churn (heap, parse buffers), which the warm-up has
 * mostly paid already: 1–12 MiB measured.
 */
const SLOW_RSS_BOUND = 32 * MiB;

/** Register the limits-under-load tests for one runtime. */
export function limitsUnderLoad(runtime: Runtime): void {
  const it = testsWithTimeout(180_000);
  const start = async (env: Record<string, string>) => startServer(() => runtime.command(env), env);
  const idleMs = idleTimeoutMs(runtime, IDLE_MS);

  describe("limits under load", () => {
    /** A server with the load running against it. */
    interface Bed {
      server: RunningServer;
      load: Load;
    }
    const startLoad = (server: RunningServer) =>
      Load.start({
        wsUrl: server.wsUrl,
        rooms: [freshRoom("limits"), freshRoom("limits"), freshRoom("limits")],
        ...LOAD,
      });
    const startBed = async (env: Record<string, string>): Promise<Bed> => {
      const server = await start({ ...env, PARLEY_DB: env.PARLEY_DB ?? `${tempDir()}/parley.db` });
      try {
        return { server, load: await startLoad(server) };
      } catch (err) {
        await server.stop("SIGKILL");
        throw err;
      }
    };
    const stopBed = async (bed?: Bed) => {
      bed?.load.terminate();
      await bed?.server.stop("SIGKILL");
    };

    let main: Bed;
    const roomUrl = (room: string, server = main.server) => `${server.wsUrl}/rooms/${room}/ws`;
    const enter = (room: string, opts: ClientOptions = {}, server = main.server) =>
      join(roomUrl(room, server), { ...opts, headers: fromAddress(nextAddress()) });

    before(async () => {
      main = await startBed(ENV);
    });
    after(() => stopBed(main));
    // A failed test may leave sockets open; they would count against a later test's address cap.
    afterEach(terminateAll);

    /** Run `fn` while the bed's load runs, then fail if any load client was disturbed meanwhile. */
    const underLoad = async (fn: () => Promise<void>, bed = main) => {
      const mark: Mark = bed.load.mark();
      assert.ok(
        bed.load.clients.every((c) => c.open),
        "the load is connected before the test",
      );
      try {
        await fn();
      } catch (err) {
        // What the server said is often the only clue to why a limit misbehaved.
        console.log(`# ${runtime.name} server output, last 2000 characters:\n${bed.server.output().slice(-2000)}`);
        throw err;
      }
      const problems = [...(await bed.load.flowing(mark, MIN_NEW)), ...(await bed.load.settle())];
      problems.push(...bed.load.problems(mark, { minNew: MIN_NEW }));
      if (problems.length > 0) {
        // A disturbed load would fail every later test too; the next one gets a fresh load.
        bed.load.terminate();
        bed.load = await startLoad(bed.server);
      } else bed.load.resume();
      assert.deepEqual(problems, [], "the load clients were disturbed");
    };

    it("per-address cap: the extra connection gets 429, a freed slot works again", () =>
      underLoad(async () => {
        // One room: on Workers the cap counts per room.
        const room = freshRoom("limits");
        const ip = fromAddress(nextAddress());
        const held: Client[] = [];
        for (let i = 0; i < MAX_PER_ADDRESS; i++) held.push((await join(roomUrl(room), { headers: ip })).client);
        assert.equal(await refusedStatus(roomUrl(room), { headers: ip }), 429);
        // The cap is per address: another one still gets in while this one is full.
        const other = await enter(room);
        await held.pop()?.close();
        held.push((await retry(() => join(roomUrl(room), { headers: ip }), 10_000)).client);
        assert.equal(await refusedStatus(roomUrl(room), { headers: ip }), 429, "the freed slot is taken again");
        await Promise.all([...held, other.client].map((c) => c.close()));
      }));

    it("members cap: the extra user is closed with 1013 room_full, with no welcome", () =>
      underLoad(async () => {
        const room = freshRoom("limits");
        const members = [];
        for (let i = 0; i < MAX_MEMBERS; i++) members.push(await enter(room));
        const extra = new Client(roomUrl(room), { headers: fromAddress(nextAddress()) });
        const closed = await within(extra.closed, 20_000, "the extra member's close");
        assert.equal(closed.code, 1013);
        assert.equal(closed.reason, "room_full");
        assert.deepEqual(extra.frames, [], "a full room sends no welcome");
        // Once a member has left, there is room again.
        await members.pop()?.client.close();
        const late = await retry(() => enter(room), 10_000);
        assert.equal((late.welcome.members as Frame[]).length, MAX_MEMBERS);
        await Promise.all([...members.map((m) => m.client), late.client].map((c) => c.close()));
      }));

    it("idle: a silent client is closed while a pong-answering one is kept", { skip: runtime.ownsIdle }, async () => {
      const bed = await startBed({ ...ENV, PARLEY_IDLE_TIMEOUT_MS: String(IDLE_MS) });
      try {
        await underLoad(async () => {
          // Both sit in a busy load room: frames going out to a client are no sign of life from it.
          const room = bed.load.rooms[0].name;
          const keeper = (await enter(room, {}, bed.server)).client;
          const { client: idle, welcome } = await enter(room, { autoPong: false }, bed.server);
          const closed = await within(idle.closed, idleMs * 4 + 15_000, "the silent client's close");
          assert.notEqual(closed.code, 1000, "an idle close is not a normal close");
          // The room let the user go, and told the others.
          for (;;) {
            const left = await keeper.next("left", idleMs * 2 + 10_000);
            if ((left.user as Frame).id === (welcome.you as Frame).id) break;
          }
          // The keeper has sent nothing but pongs for longer than the timeout now; give it one more
          // whole timeout to be sure, then it must still be there, and answer.
          await new Promise((r) => setTimeout(r, idleMs + 1000));
          assert.equal(keeper.ws.readyState, keeper.ws.OPEN, "the pong-answering client was closed");
          keeper.send({ type: "ping", ref: "still" });
          assert.deepEqual(await keeper.next("pong"), { type: "pong", ref: "still" });
          await keeper.close();
        }, bed);
      } finally {
        await stopBed(bed);
      }
    });

    it(
      "slow reader: closed with 1013 slow_reader, server memory stays bounded, the others get every message",
      {
        skip: runtime.ownsSendQueue,
      },
      () =>
        underLoad(async () => {
          // Lean clients that keep counts, not frames: the test pushes 70 MB to each of them.
          const members = await Load.start({
            wsUrl: main.server.wsUrl,
            rooms: [freshRoom("limits")],
            perRoom: 4,
            everyMs: 1000,
            paused: true,
          });
          try {
            const [writer, ...others] = members.clients;
            const readers = others.slice(0, 2);
            const slow = others[2];
            const socket = (slow.ws as unknown as { _socket: net.Socket })._socket;
            const text = "s".repeat(MAX_TEXT - 1000);
            /** Say `n` messages; the writer reads as it writes (5 in flight, 35 KB, under the 64 KiB queue), so
             * only a paused reader falls behind. Deno counts a frame as queued until its write completes,
             * so a larger burst inside one turn would make the writer itself a slow reader there. */
            const push = async (n: number) => {
              for (let i = 0; i < n; i += 5) {
                for (let j = 0; j < 5; j++) writer.say(text);
                const sent = writer.sent;
                await writer.until(() => writer.acked + writer.errors >= sent, 20_000, `ack ${sent}`);
              }
            };
            // The same traffic first with everyone reading, so the runtime's heap has grown to what this
            // traffic needs before the baseline is taken: what follows is the paused reader's share.
            await push(SLOW_WARMUP);

            // Bun (uWS) drops a closing socket whose close frame is still unsent after a short timeout, so a
            // reader that never reads again sees 1006 there. Resume as soon as the room reports the reader
            // gone (Bun and Deno say so at once, Node once the close handshake is done), so the close that
            // was sent can be read.
            const slowLeft = `{"type":"left","user":${JSON.stringify(slow.you)}}`;
            readers[0].ws.on("message", (data: Buffer) => {
              if (data.length === slowLeft.length && data.toString() === slowLeft) socket.resume();
            });
            socket.pause();
            const pid = main.server.proc.pid as number;
            const rssBefore = treeRss(pid);
            const rss = sampleRss(pid, 100);
            try {
              await push(SLOW_MESSAGES);
            } finally {
              rss.stop();
            }
            const grew = rss.peak - rssBefore;
            const pushed = SLOW_MESSAGES * text.length;
            console.log(
              `# ${runtime.name} slow reader: server RSS ${mib(rssBefore)} before, peak ${mib(rss.peak)} (+${mib(grew)}) while ${mib(pushed)} went to the room`,
            );
            // Where RSS cannot tell buffering from garbage, the cut-off below is what proves the bound.
            if (!runtime.rssHidesBuffering) {
              assert.ok(
                grew < SLOW_RSS_BOUND,
                `server RSS grew by ${mib(grew)} while ${mib(pushed)} went to a room with a paused reader; the bound is ${mib(SLOW_RSS_BOUND)}`,
              );
            }

            socket.resume();
            await slow.until(() => slow.closed !== undefined, 20_000, "the slow reader's close");
            assert.deepEqual(slow.closed, { code: 1013, reason: "slow_reader" });
            const total = SLOW_WARMUP + SLOW_MESSAGES;
            // A reader over a 64 KiB queue of 7 KB frames is cut off long before the end (about 1600 of
            // 10,000 messages are seen); without the limit it would receive them all.
            assert.ok(
              slow.received < total / 2,
              `the slow reader was cut off early (it got ${slow.received} of ${total})`,
            );
            // Everyone who reads got every message, in order.
            for (const c of [writer, ...readers]) {
              await c.until(() => c.received >= total, 20_000, `message ${total}`);
              assert.deepEqual(c.notes, [], `client ${c.id}`);
              assert.equal(c.received, total);
              assert.equal(c.last, total);
            }
            assert.equal(writer.errors, 0);
          } finally {
            await members.close();
          }
        }),
    );

    it("slow reader: a client that keeps up is never closed for one frame bigger than the queue limit", () =>
      underLoad(async () => {
        // 100 messages of 2 KB: a welcome carries 50 of them (105 KB), a resume or a history page 100
        // (210 KB), each one frame, and each far over the 64 KiB send-queue limit, yet within the 256 KiB
        // a page may carry (PROTOCOL-v2 section 5).
        const room = freshRoom("limits");
        const { client: writer, welcome: first } = await enter(room);
        for (let i = 0; i < 100; i += 5) {
          for (let j = 0; j < 5; j++) writer.ws.send(sayJson("w".repeat(2000)));
          for (let j = 0; j < 5; j++) await writer.next("message", 20_000);
        }
        const fresh = await enter(room);
        assert.equal((fresh.welcome.messages as Frame[]).length, 50);
        fresh.client.send({ type: "history", before: 101, limit: 100, ref: "h" });
        assert.equal(((await fresh.client.next("history", 20_000)).messages as Frame[]).length, 100);
        const resumed = await join(`${roomUrl(room)}?since=0&epoch=${first.epoch}`, {
          headers: fromAddress(nextAddress()),
        });
        assert.equal(resumed.welcome.resumed, true);
        assert.equal((resumed.welcome.messages as Frame[]).length, 100);
        // All three read everything they were sent, so all three are still here.
        for (const c of [writer, fresh.client, resumed.client]) {
          c.send({ type: "ping", ref: "still" });
          assert.deepEqual(await c.next("pong", 20_000), { type: "pong", ref: "still" });
          assert.equal(c.ws.readyState, c.ws.OPEN);
        }
        await Promise.all([writer, fresh.client, resumed.client].map((c) => c.close()));
      }));

    it("a flood of rejected frames is closed with 1008", () =>
      underLoad(async () => {
        // The flooders sit in a busy load room, whose members must not notice.
        const room = main.load.rooms[1].name;
        const junk = [
          "nope",
          '{"type":"shout","text":"x"}',
          '{"type":"say","text":"   "}',
          sayJson("x".repeat(MAX_TEXT + 1)),
          '{"type":"rename","name":""}',
        ];
        const flooders = [];
        for (let i = 0; i < 5; i++) flooders.push((await enter(room)).client);
        for (const f of flooders) for (let i = 0; i < 2000; i++) f.send(junk[i % junk.length]);
        for (const f of flooders) {
          const closed = await within(f.closed, 30_000, "a flooder's close");
          const errors = f.frames.filter((x) => x.type === "error");
          if (runtime.dropsCloseOnIncomingData && closed.code === 1006) {
            // The runtime tore the closing socket down for the flood still arriving: the client lost the
            // close frame, and often the errors before it. The flooder is cut off all the same.
            assert.ok(errors.length <= MAX_STRIKES + 1, `${errors.length} errors`);
            continue;
          }
          assert.equal(closed.code, 1008);
          assert.equal(closed.reason, "too many rejected frames");
          // Each rejected frame is answered until the one past the limit, which closes the socket.
          assert.equal(errors.length, MAX_STRIKES + 1);
        }
        // The room let them go: none of them is a member any more.
        const memberCount = async () =>
          ((await (await fetch(`${main.server.url}/api/rooms/${room}`)).json()) as { members: Frame[] }).members.length;
        await retry(async () => assert.equal(await memberCount(), LOAD.perRoom), 10_000);
      }));

    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      it(`graceful shutdown on ${signal}: 1001 for every socket, acked messages kept, exit 0 within 5 s`, {
        skip: runtime.ownsShutdown,
      }, async () => {
        const env = { ...ENV, PARLEY_DB: `${tempDir()}/parley.db` };
        const { server: stopping, load: busy } = await startBed(env);
        let again: RunningServer | undefined;
        const knocks: Client[] = [];
        try {
          const mark = busy.mark();
          assert.deepEqual(await busy.flowing(mark, MIN_NEW), [], "the load is flowing before the signal");
          assert.ok(
            busy.clients.every((c) => c.open),
            "the load is connected before the signal",
          );

          const started = Date.now();
          const exited = stopping.stop(signal);
          // Clients reconnect at once on 1001 (src/client/index.ts does). Once the first 1001 is out, keep
          // knocking until the process is gone: no new connection may be welcomed by a server that
          // is stopping.
          await within(
            new Promise<void>((resolve) => {
              for (const c of busy.clients) c.ws.once("close", () => resolve());
            }),
            5000,
            "a socket to be closed after the signal",
          );
          let gone = false;
          exited.then(() => (gone = true));
          const knocking = (async () => {
            while (!gone) {
              const k = new Client(`${stopping.wsUrl}/rooms/${busy.rooms[0].name}/ws`, {
                headers: fromAddress(nextAddress()),
              });
              knocks.push(k);
              await k.closed;
            }
          })();
          const code = await within(exited, 10_000, `the server to exit after ${signal}`);
          const took = Date.now() - started;
          await knocking;
          console.log(
            `# ${runtime.name} ${signal}: exit ${code} after ${took} ms, ${busy.acked} messages acked, ${knocks.length} connections tried while stopping`,
          );
          assert.equal(code, 0, `exit code after ${signal}`);
          assert.ok(took < 5000, `the server took ${took} ms to exit after ${signal}`);
          // Every socket was told, after every acked message of its room.
          const problems = busy.problems(mark, {
            minNew: MIN_NEW,
            closeCode: 1001,
            // A client whose say arrives as its socket closes may lose the 1001 (seen once in ten runs on
            // Deno: 5 of 30 clients saw 1006, each with a say unanswered).
            ...(runtime.dropsCloseOnIncomingData ? { inFlightClose: 1006 } : {}),
          });
          assert.deepEqual(problems, [], "the load clients were not all told 1001 after their messages");
          const welcomed = knocks.filter((k) => k.frames.some((f) => f.type === "welcome"));
          assert.deepEqual(
            welcomed.map((k) => k.frames.map((f) => f.type)),
            [],
            `a stopping server welcomed ${welcomed.length} of ${knocks.length} new connections`,
          );

          // Every acked message is in the database, with its seq, after a restart.
          again = await start(env);
          for (const r of busy.rooms) {
            const stored = await storedHistory(again.url, r.name);
            const bySeq = new Map(stored.map((m) => [m.seq, m.ref]));
            const missing = [...r.acked].filter(([seq, ref]) => bySeq.get(seq) !== ref);
            assert.deepEqual(missing.slice(0, 5), [], `room ${r.name}: ${missing.length} acked messages not stored`);
            assert.deepEqual(
              stored.map((m) => m.seq),
              stored.map((_, i) => i + 1),
              "the stored seqs have no gaps",
            );
            assert.ok(r.acked.size > 0);
          }
        } finally {
          busy.terminate();
          for (const k of knocks) k.ws.terminate();
          await stopping.stop("SIGKILL");
          await again?.stop("SIGKILL");
        }
      });
    }
  });
}
