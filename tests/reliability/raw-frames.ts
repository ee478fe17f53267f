/**
 * Raw frames: the categories of Autobahn|Testsuite (which needs Python 2 and cannot run here), sent by
 * hand over `node:net` to each runtime's real server. Every hostile case checks two things: the
 * attacker's connection is answered as RFC 6455 says (or the runtime's documented gap, see GAPS), and
 * everyone else is still served: a bystander in the same room keeps getting messages, the room lets go
 * of the attacker, and a new client in another room can join, say and get its ack.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, afterEach, before, describe, type TestContext } from "node:test";
import { type Client, type Frame, join, terminateAll } from "../helpers/client.ts";
import { freshRoom, sayJson } from "../helpers/fixtures.ts";
import {
  acceptFor,
  closePayload,
  describeEnding,
  destroyAllRaw,
  type FrameSpec,
  OP,
  RawSocket,
  rawConnect,
  rawRequest,
  upgradeRequest,
  type WireFrame,
} from "../helpers/raw-socket.ts";
import { type Runtime, type RuntimeName, testsWithTimeout } from "../helpers/runtimes.ts";
import { type RunningServer, startServer } from "../helpers/server.ts";

// Bursts as large as the tests need, so that the checks after each case never meet the rate limit.
// Raw-frame cases send bursts of frames; the abuse suite tests the frame budget.
const ENV = {
  PARLEY_DB: ":memory:",
  PARLEY_RATE_BURST: "100000",
  PARLEY_RATE_PER_SEC: "100000",
  PARLEY_FRAME_BURST: "100000",
  PARLEY_FRAME_PER_SEC: "100000",
  // Every case opens its sockets from 127.0.0.1, a hundred and more in a row.
  PARLEY_CONNECT_BURST: "100000",
};
const FRAME_LIMIT = 16 * 1024;

/** What the server must do with one hostile input. */
type Expect =
  /** Fail the connection: a Close with one of `codes`, or (where the runtime fails that way) a TCP close. */
  | { fail: number[] }
  /** A runtime gap: the frame is taken as valid (data: the socket stays open; close: a normal close). */
  | { accept: string }
  /** A runtime gap: no Close and no TCP close, but the socket is dead to the app (the room lets go). */
  | { silent: string };

const WORKERD_UTF8 =
  "workerd decodes text with U+FFFD replacement instead of failing with 1007; the app gets a valid string and cannot tell";
const WORKERD_CLOSE =
  "workerd hands the object 1005 or 1006, as for a bare Close or a dropped connection, so Parley completes a normal close";

/**
 * Hostile cases a runtime does not fail as RFC 6455 says, with the reason. Each is asserted as the
 * runtime's actual, safe behaviour (the connection keeps working or closes; the others are served), so
 * a runtime that fixes one makes its test fail here: then drop the entry and its line in the notes.
 */
const GAPS: Partial<Record<RuntimeName, Record<string, Expect>>> = {
  workers: {
    "RSV1 on a ping": {
      accept: "workerd checks RSV1 only on data frames (as the compression bit); a ping with RSV1 is answered",
    },
    "unmasked text": { accept: "workerd (kj-http) accepts unmasked client frames; app code cannot see masking" },
    "unmasked ping": { accept: "workerd (kj-http) accepts unmasked client frames; app code cannot see masking" },
    "ping with 126 bytes": { accept: "workerd accepts a ping over 125 bytes and answers it with a pong as long" },
    "pong with 126 bytes": { accept: "workerd accepts a pong over 125 bytes" },
    "close with 126 bytes": {
      silent: "workerd drops a Close over 125 bytes with no Close back; the proxy keeps the TCP connection ~10 s",
    },
    "lone 0xFF": { accept: WORKERD_UTF8 },
    "UTF-16 surrogate": { accept: WORKERD_UTF8 },
    "overlong encoding": { accept: WORKERD_UTF8 },
    "code point over U+10FFFF": { accept: WORKERD_UTF8 },
    "truncated at the end": { accept: WORKERD_UTF8 },
    "bad byte in a fragmented message": { accept: WORKERD_UTF8 },
    "bad UTF-8 in the reason": {
      accept: "workerd hands the object the reason decoded with U+FFFD replacement, so Parley completes a normal close",
    },
    "1-byte payload": { accept: WORKERD_CLOSE },
    "code 1005": { accept: WORKERD_CLOSE },
    "code 1006": { accept: WORKERD_CLOSE },
    "2000 headers (70 kB)": {
      accept:
        "workerd (wrangler dev) limits the size of the header block (431 past about 128 KiB), not the number of headers",
    },
  },
};

/**
 * The ceiling for RSS growth through ten fragment floods at once: well above what each runtime was seen to
 * use, well below an explosion (ten floods of 20 000 fragments kept at even 1 KB each would be 200 MB).
 * `ws` keeps one Buffer per fragment until the limit is hit, and the GC lets 30–60 MB of that garbage
 * build up before it collects (25 rounds in a row level off; no leak), so Node's ceiling is higher, and
 * Deno's too, since it runs the same reader (src/adapter/deno/index.ts). Bun grew by 0–3 MB.
 */
const RSS_GROWTH_KB: Record<RuntimeName, number> = { node: 96 * 1024, deno: 96 * 1024, bun: 32 * 1024, workers: 0 };

/** The server's resident set, from /proc (node, deno and bun run as the spawned process itself). */
function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  assert.ok(m, `no VmRSS for ${pid}`);
  return Number(m[1]);
}

/** A say frame's bytes with `bad` spliced into its text, so a server that decodes loosely would post it. */
function sayWithBytes(marker: string, bad: number[]): Buffer {
  const [head, tail] = sayJson(`${marker}|`).split("|");
  return Buffer.concat([Buffer.from(head), Buffer.from(bad), Buffer.from(tail)]);
}

/** One byte per frame: a text frame, then continuations, the last with FIN. */
function oneByteFragments(bytes: Buffer): FrameSpec[] {
  return Array.from(bytes, (_, i) => ({
    opcode: i === 0 ? OP.text : OP.continuation,
    fin: i === bytes.length - 1,
    payload: bytes.subarray(i, i + 1),
  }));
}

/**
 * A say frame of exactly `size` bytes. An unknown field pads it past the text limit; text and padding mix
 * 1- to 4-byte UTF-8 characters, so one byte per fragment splits each of them across fragments.
 */
function sayOfSize(size: number, ref: string): { bytes: Buffer; text: string } {
  const text = "aé€🦊 flood";
  const frame = (pad: string) => JSON.stringify({ type: "say", text, ref, pad });
  let pad = "";
  while (Buffer.byteLength(frame(pad)) + 10 <= size) pad += "aé€🦊";
  while (Buffer.byteLength(frame(pad)) < size) pad += "a";
  const bytes = Buffer.from(frame(pad));
  assert.equal(bytes.length, size);
  return { bytes, text };
}

interface Case {
  /** Unique within the topic: GAPS keys on it. */
  name: string;
  frames: () => (FrameSpec | Buffer)[];
  /** What RFC 6455 asks of the server. */
  expect: Expect;
  /** The text of a say frame hidden in the input: it must never reach the room (unless accepted). */
  marker?: string;
}

/** Register this topic's tests for one runtime. */
export function rawFrames(runtime: Runtime): void {
  /** How the runtime fails a connection, where RFC 6455 leaves it a choice. */
  const style = {
    /** A Close frame with the code, rather than only dropping the TCP connection (§7.1.7 says MAY). */
    closeFrame: !runtime.failsWithoutCloseFrame,
    /** The TCP connection ends promptly after the closing handshake (§7.1.1: the server SHOULD close first). */
    tcpCloses: !runtime.keepsTcpAfterClose,
  };
  const gaps = GAPS[runtime.name] ?? {};
  const it = testsWithTimeout(30_000);
  let server: RunningServer;

  const wsPath = (room: string) => `/rooms/${room}/ws`;

  /** Two normal clients in `room`: `listener` only listens, `speaker` talks after each case. */
  async function bystanders(room: string) {
    const listener = (await join(server.wsUrl + wsPath(room), {})).client;
    const speaker = (await join(server.wsUrl + wsPath(room), {})).client;
    return { listener, speaker, close: () => Promise.all([listener.close(), speaker.close()]) };
  }

  let said = 0;
  /** Everyone else is still served: the bystanders talk, and a newcomer elsewhere joins, says and is acked. */
  async function stillServing(what: string, listener: Client, speaker: Client) {
    assert.equal(server.proc.exitCode, null, `the server exited after ${what}`);
    const ref = `after-${++said}`;
    speaker.send(sayJson(`after ${what}`, ref));
    assert.equal((await speaker.next("ack")).ref, ref, `the speaker's ack after ${what}`);
    // Skipping any message a runtime gap let through before (each is asserted where it happens).
    while ((await listener.next("message")).text !== `after ${what}`);
    const { client: newcomer } = await join(server.wsUrl + wsPath(freshRoom("raw")));
    newcomer.send(sayJson("still here", "n"));
    assert.equal((await newcomer.next("ack")).ref, "n", `a newcomer in another room is acked after ${what}`);
    await newcomer.close();
  }

  /** Connect by hand to `room`, checking the 101, Sec-WebSocket-Accept and the welcome. */
  async function attacker(room: string): Promise<{ raw: RawSocket; you: Frame }> {
    const raw = await rawConnect(server.port, wsPath(room));
    const welcome = await raw.nextJson();
    assert.equal(welcome?.type, "welcome", "the raw handshake gets a welcome first");
    return { raw, you: welcome.you as Frame };
  }

  /** Send one hostile case from a fresh raw connection and check the answer and the room. */
  async function attack(t: TestContext, c: Case, room: string, listener: Client, speaker: Client) {
    const { raw, you } = await attacker(room);
    const expect = gaps[c.name] ?? c.expect;
    if (gaps[c.name])
      t.diagnostic(`gap, ${c.name}: ${"accept" in expect ? expect.accept : "silent" in expect ? expect.silent : ""}`);
    const isClose = c.frames().some((f) => !Buffer.isBuffer(f) && f.opcode === OP.close);
    const leftBefore = listener.frames.length;
    const left = () =>
      listener.frames.slice(leftBefore).some((f) => f.type === "left" && (f.user as Frame).id === you.id);
    // The room must not keep a ghost member behind a failed socket.
    const awaitLeft = async () => {
      while (!left()) await listener.next("left", 5000);
    };
    raw.send(...c.frames());
    try {
      if ("fail" in expect) {
        const ending = await raw.ending(5000, style.tcpCloses ? 5000 : 0);
        const seen = `${c.name}: ${describeEnding(ending)}`;
        assert.notEqual(ending.kind, "open", `${c.name}: the connection must be failed`);
        if (ending.kind === "close") {
          assert.ok(expect.fail.includes(ending.code ?? 0), `${seen}, expected ${expect.fail.join(" or ")}`);
          if (style.tcpCloses) assert.ok(ending.tcpClosed, `${seen}`);
        } else assert.ok(!style.closeFrame, `${seen}: ${runtime.name} sends a Close frame when it fails a connection`);
      } else if ("accept" in expect) {
        if (isClose) {
          const ending = await raw.ending(5000);
          assert.equal(ending.kind, "close", `${c.name} (gap: ${expect.accept}): ${describeEnding(ending)}`);
          assert.ok(ending.kind === "close" && ![1002, 1007].includes(ending.code ?? 0), describeEnding(ending));
        } else {
          raw.send({ opcode: OP.ping, payload: "alive" });
          // The hostile frame may have been a ping that got its own pong first.
          let pong: WireFrame | undefined;
          do pong = await raw.next([OP.pong], 5000);
          while (pong && pong.payload.toString() !== "alive");
          assert.ok(pong, `${c.name} (gap: ${expect.accept}): the socket still answers a ping`);
        }
      } else {
        await awaitLeft();
        assert.equal(raw.frames.filter((f) => f.opcode === OP.close).length, 0, `${c.name} (gap: ${expect.silent})`);
        raw.send({ opcode: OP.ping, payload: "alive" });
        assert.equal(await raw.next([OP.pong], 500), undefined, `${c.name}: the socket is dead`);
      }
      if (!("accept" in expect) || isClose) {
        await awaitLeft();
        if (c.marker !== undefined) {
          const marker = c.marker;
          const leaked = listener.frames.filter((f) => f.type === "message" && String(f.text).startsWith(marker));
          assert.deepEqual(leaked, [], `${c.name}: the hostile frame reached the room`);
        }
      }
    } finally {
      raw.destroy();
    }
    await stillServing(c.name, listener, speaker);
  }

  /** A test that runs `cases` one after another against one pair of bystanders. */
  const hostile = (name: string, cases: Case[]) =>
    it(name, async (t) => {
      const room = freshRoom("raw");
      const { listener, speaker, close } = await bystanders(room);
      for (const c of cases) await attack(t, c, room, listener, speaker);
      await close();
    });

  describe("raw frames", () => {
    before(async () => {
      server = await startServer(() => runtime.command(ENV), ENV);
    });
    after(() => server?.stop("SIGKILL"));
    // A failed test may leave sockets open; the next test should start clean.
    afterEach(() => {
      destroyAllRaw();
      terminateAll();
    });

    describe("framing (Autobahn 3, 4)", () => {
      hostile(
        "reserved opcodes 0x3-0x7 and 0xB-0xF fail the connection with 1002",
        [3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf].map((op) => ({
          name: `opcode 0x${op.toString(16)}`,
          frames: () => [{ opcode: op, payload: sayJson(`opcode ${op}`) }],
          expect: { fail: [1002] },
          marker: `opcode ${op}`,
        })),
      );

      hostile("RSV1, RSV2 and RSV3 with no extension fail the connection with 1002", [
        ...[4, 2, 1, 7].map((rsv) => ({
          name: `RSV ${rsv.toString(2).padStart(3, "0")} on a text frame`,
          frames: () => [{ opcode: OP.text, rsv, payload: sayJson(`rsv ${rsv}`) }],
          expect: { fail: [1002] },
          marker: `rsv ${rsv}`,
        })),
        { name: "RSV1 on a ping", frames: () => [{ opcode: OP.ping, rsv: 4, payload: "p" }], expect: { fail: [1002] } },
        { name: "RSV2 on a close", frames: () => [{ opcode: OP.close, rsv: 2 }], expect: { fail: [1002] } },
      ]);

      hostile("an unmasked client frame fails the connection with 1002 (RFC 6455 §5.1)", [
        {
          name: "unmasked text",
          frames: () => [{ opcode: OP.text, mask: false, payload: sayJson("unmasked") }],
          expect: { fail: [1002] },
          marker: "unmasked",
        },
        {
          name: "unmasked ping",
          frames: () => [{ opcode: OP.ping, mask: false, payload: "p" }],
          expect: { fail: [1002] },
        },
      ]);

      hostile("a 2^63 or 2^63-1 length field fails the connection", [
        {
          // The most significant bit MUST be 0 (§5.2): a protocol error, or simply too big.
          name: "length 2^63",
          frames: () => [{ opcode: OP.text, length: 1n << 63n, payload: "abcd" }],
          expect: { fail: [1002, 1009] },
        },
        {
          name: "length 2^63-1",
          frames: () => [{ opcode: OP.text, length: (1n << 63n) - 1n, payload: "abcd" }],
          expect: { fail: [1009] },
        },
      ]);
    });

    describe("control frames (Autobahn 2, 5)", () => {
      hostile("a control frame over 125 bytes fails the connection with 1002", [
        {
          name: "ping with 126 bytes",
          frames: () => [{ opcode: OP.ping, payload: Buffer.alloc(126, 0x70) }],
          expect: { fail: [1002] },
        },
        {
          name: "pong with 126 bytes",
          frames: () => [{ opcode: OP.pong, payload: Buffer.alloc(126, 0x70) }],
          expect: { fail: [1002] },
        },
        {
          name: "close with 126 bytes",
          frames: () => [{ opcode: OP.close, payload: closePayload(1000, "r".repeat(124)) }],
          expect: { fail: [1002] },
        },
      ]);

      hostile("a fragmented control frame fails the connection with 1002", [
        {
          name: "ping with FIN=0",
          frames: () => [
            { opcode: OP.ping, fin: false, payload: "frag" },
            { opcode: OP.continuation, payload: "ment" },
          ],
          expect: { fail: [1002] },
        },
        {
          name: "pong with FIN=0",
          frames: () => [{ opcode: OP.pong, fin: false, payload: "frag" }],
          expect: { fail: [1002] },
        },
      ]);

      it("a 125-byte ping is answered with the same payload (the limit is exact)", async () => {
        const room = freshRoom("raw");
        const { listener, speaker, close } = await bystanders(room);
        const { raw } = await attacker(room);
        const payload = Buffer.alloc(125, 0x61);
        raw.send({ opcode: OP.ping, payload });
        assert.deepEqual((await raw.next([OP.pong]))?.payload, payload);
        raw.send({ opcode: OP.text, payload: sayJson("after a big ping", "p") });
        assert.equal((await raw.nextJson())?.type, "message");
        raw.destroy();
        await stillServing("a 125-byte ping", listener, speaker);
        await close();
      });
    });

    describe("fragmentation (Autobahn 5)", () => {
      hostile("a continuation frame with no message started fails the connection with 1002", [
        {
          name: "orphan continuation",
          frames: () => [{ opcode: OP.continuation, payload: sayJson("orphan") }],
          expect: { fail: [1002] },
          marker: "orphan",
        },
        {
          name: "orphan continuation without FIN",
          frames: () => [
            { opcode: OP.continuation, fin: false, payload: sayJson("orphan2") },
            { opcode: OP.text, payload: sayJson("text behind an orphan") },
          ],
          expect: { fail: [1002] },
          marker: "text behind an orphan",
        },
      ]);

      hostile("a new text frame inside a fragmented message fails the connection with 1002", [
        {
          name: "text inside a fragmented message",
          frames: () => [
            { opcode: OP.text, fin: false, payload: '{"type":"say",' },
            { opcode: OP.text, payload: sayJson("interleaved") },
            { opcode: OP.continuation, payload: '"text":"outer"}' },
          ],
          expect: { fail: [1002] },
          marker: "interleaved",
        },
        {
          name: "binary inside a fragmented text message",
          frames: () => [
            { opcode: OP.text, fin: false, payload: '{"type":"say",' },
            { opcode: OP.binary, payload: "x" },
          ],
          expect: { fail: [1002] },
        },
      ]);

      it("UTF-8 split across fragments, with a ping between them, is accepted and parsed normally", async () => {
        const room = freshRoom("raw");
        const { listener, speaker, close } = await bystanders(room);
        const { raw } = await attacker(room);
        const text = "é🦊€ split";
        const bytes = Buffer.from(sayJson(text, "split"));
        // Cut inside the 2-byte é, then inside the 4-byte fox, then inside the 3-byte euro sign.
        const cuts = [bytes.indexOf(0xc3) + 1, bytes.indexOf(0xf0) + 2, bytes.indexOf(0xe2) + 1];
        const ends = [...cuts, bytes.length];
        const parts = ends.map((end, i) => bytes.subarray(i === 0 ? 0 : ends[i - 1], end));
        assert.equal(Buffer.concat(parts).toString(), sayJson(text, "split"));
        raw.send(
          { opcode: OP.text, fin: false, payload: parts[0] },
          { opcode: OP.continuation, fin: false, payload: parts[1] },
          // Control frames may come between fragments (§5.4).
          { opcode: OP.ping, payload: "mid" },
          { opcode: OP.continuation, fin: false, payload: parts[2] },
          { opcode: OP.continuation, payload: parts[3] },
        );
        assert.equal((await raw.next([OP.pong]))?.payload.toString(), "mid");
        const echoed = await raw.nextJson();
        assert.equal(echoed?.type, "message");
        assert.equal(echoed?.text, text);
        assert.equal((await listener.next("message")).text, text);
        raw.destroy();
        await stillServing("split UTF-8", listener, speaker);
        await close();
      });

      it("20 000 one-byte fragments over the frame limit are closed with 1009 at once", async () => {
        const room = freshRoom("raw");
        const { listener, speaker, close } = await bystanders(room);
        const { raw } = await attacker(room);
        const { bytes } = sayOfSize(20_000, "flood");
        const started = Date.now();
        raw.send(...oneByteFragments(bytes));
        const ending = await raw.ending(10_000, style.tcpCloses ? 10_000 : 0);
        const took = Date.now() - started;
        assert.ok(ending.kind === "close" && ending.code === 1009, `flood: ${describeEnding(ending)}`);
        assert.ok(took < 10_000, `the flood took ${took} ms to answer`);
        raw.destroy();
        assert.deepEqual(
          listener.frames.filter((f) => f.type === "message"),
          [],
        );
        await stillServing("a fragment flood over the limit", listener, speaker);
        await close();
      });

      it("12 000 one-byte fragments under the frame limit are reassembled into one message", async () => {
        const room = freshRoom("raw");
        const { listener, speaker, close } = await bystanders(room);
        const { raw } = await attacker(room);
        // One byte per frame splits every multi-byte character of the text across frames.
        const { bytes, text } = sayOfSize(12_000, "flood");
        assert.ok(bytes.length < FRAME_LIMIT);
        const started = Date.now();
        raw.send(...oneByteFragments(bytes));
        const echoed = await raw.nextJson(10_000);
        assert.equal(echoed?.type, "message", `got ${JSON.stringify(echoed)?.slice(0, 200)}`);
        assert.equal(echoed?.text, text);
        assert.ok(Date.now() - started < 10_000);
        assert.equal((await listener.next("message")).text, text);
        raw.destroy();
        await stillServing("a fragment flood under the limit", listener, speaker);
        await close();
      });

      it("fragment floods from 10 connections at once leave the server's memory flat", {
        skip: runtime.ownsMemory,
        timeout: 60_000,
      }, async (t) => {
        const room = freshRoom("raw");
        const { listener, speaker, close } = await bystanders(room);
        const pid = server.proc.pid as number;
        const before = rssKb(pid);
        const attackers = await Promise.all(Array.from({ length: 10 }, () => attacker(room)));
        const { bytes } = sayOfSize(20_000, "flood");
        const frames = oneByteFragments(bytes);
        for (const { raw } of attackers) raw.send(...frames);
        const endings = await Promise.all(attackers.map(({ raw }) => raw.ending(20_000, 0)));
        for (const e of endings) assert.ok(e.kind === "close" && e.code === 1009, describeEnding(e));
        const grown = rssKb(pid) - before;
        t.diagnostic(`RSS ${before} kB before, grew by ${grown} kB`);
        assert.ok(grown < RSS_GROWTH_KB[runtime.name], `RSS grew by ${grown} kB through the floods`);
        for (const { raw } of attackers) raw.destroy();
        await stillServing("ten fragment floods", listener, speaker);
        await close();
      });
    });

    describe("UTF-8 (Autobahn 6)", () => {
      const bad: [string, number[]][] = [
        ["lone 0xFF", [0xff]],
        ["UTF-16 surrogate", [0xed, 0xa0, 0x80]],
        ["overlong encoding", [0xc0, 0xaf]],
        ["code point over U+10FFFF", [0xf4, 0x90, 0x80, 0x80]],
      ];
      hostile("invalid UTF-8 in a text frame fails the connection with 1007", [
        ...bad.map(([name, bytes]) => ({
          name,
          frames: () => [{ opcode: OP.text, payload: sayWithBytes(name, bytes) }],
          expect: { fail: [1007] },
          marker: name,
        })),
        {
          name: "truncated at the end",
          frames: () => [
            { opcode: OP.text, payload: Buffer.concat([Buffer.from(sayJson("cut")), Buffer.from([0xf0, 0x9f])]) },
          ],
          expect: { fail: [1007] },
        },
        {
          name: "bad byte in a fragmented message",
          frames: () => {
            const bytes = sayWithBytes("fragmented bad", [0xff]);
            return [
              { opcode: OP.text, fin: false, payload: bytes.subarray(0, 10) },
              { opcode: OP.continuation, payload: bytes.subarray(10) },
            ];
          },
          expect: { fail: [1007] },
          marker: "fragmented bad",
        },
      ]);
    });

    describe("close frames (Autobahn 7)", () => {
      hostile("invalid UTF-8 in a close reason fails the connection with 1007", [
        {
          // Autobahn 7.5.1: "κόσμε" with a UTF-16 surrogate, then "edited".
          name: "bad UTF-8 in the reason",
          frames: () => [
            {
              opcode: OP.close,
              payload: closePayload(
                1000,
                Buffer.from([0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80]),
              ),
            },
          ],
          expect: { fail: [1007] },
        },
      ]);

      hostile("a close frame with a 1-byte payload fails the connection with 1002", [
        {
          name: "1-byte payload",
          frames: () => [{ opcode: OP.close, payload: Buffer.from([0x03]) }],
          expect: { fail: [1002] },
        },
      ]);

      hostile(
        "a close frame with an invalid code fails the connection with 1002",
        [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535].map((code) => ({
          name: `code ${code}`,
          frames: () => [{ opcode: OP.close, payload: closePayload(code) }],
          expect: { fail: [1002] },
        })),
      );

      it("a close frame with a valid code is answered with the same code", async () => {
        const room = freshRoom("raw");
        const { listener, speaker, close } = await bystanders(room);
        for (const code of [1000, 1001, 1003, 1007, 1011, 3000, 4999]) {
          const { raw, you } = await attacker(room);
          raw.send({ opcode: OP.close, payload: closePayload(code, "bye") });
          const ending = await raw.ending();
          assert.ok(ending.kind === "close" && ending.code === code, `code ${code}: ${describeEnding(ending)}`);
          assert.ok(ending.tcpClosed, `code ${code}: the server closes the TCP connection after the handshake`);
          assert.equal(((await listener.next("left")).user as Frame).id, you.id);
          raw.destroy();
          await stillServing(`close ${code}`, listener, speaker);
        }
        await close();
      });
    });

    describe("handshake", () => {
      const junk = (count: number, size: number) =>
        Array.from({ length: count }, (_, i) => `X-Junk-${String(i).padStart(4, "0")}: ${"v".repeat(size)}`);

      /** Send an upgrade with `extra` headers; expect a refusal (431, 400 or a closed connection) or the gap. */
      const headerFlood = (name: string, extra: string[]) =>
        it(`a handshake with ${name} is refused with 431 or 400, or closed`, async (t) => {
          const room = freshRoom("raw");
          const { listener, speaker, close } = await bystanders(room);
          const key = "dGhlIHNhbXBsZSBub25jZQ==";
          const res = await rawRequest(server.port, upgradeRequest(server.port, wsPath(room), key, extra));
          const gap = gaps[name];
          if (gap && "accept" in gap) {
            t.diagnostic(`gap: ${gap.accept}`);
            assert.ok(res, `gap: ${gap.accept}`);
            assert.equal(res.head.status, 101, `gap: ${gap.accept}`);
            assert.equal(res.head.headers["sec-websocket-accept"], acceptFor(key));
            assert.equal((await new RawSocket(res.socket, res.head, res.rest).nextJson())?.type, "welcome");
          } else if (res) assert.ok([400, 431].includes(res.head.status), `answered ${res.head.status}`);
          res?.socket.destroy();
          await stillServing(name, listener, speaker);
          await close();
        });

      // 35 and 75 bytes a line: 70 kB and 150 kB, both past the 16 KiB Node and Bun allow.
      headerFlood("2000 headers (70 kB)", junk(2000, 20));
      headerFlood("2000 headers (150 kB)", junk(2000, 60));
    });
  });
}
