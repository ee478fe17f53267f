/**
 * The typed client (src/client/) against real Parley server processes (Node runtime): connecting,
 * resuming across kills and restarts, the offline queue, paging a gap past the resume window, new epochs,
 * close codes, refused handshakes, keep-alive and the request calls. The network between client and server is a
 * Wire (./wire.ts), so a test can cut it, stall it or lose a frame exactly where it needs to.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import {
  type AckFrame,
  type ConnectOptions,
  connect,
  type ErrorFrame,
  type Message,
  type ParleyClient,
  ParleyError,
  type StateChange,
  type User,
  type WelcomeFrame,
} from "../../src/client/index.ts";
import { join, terminateAll } from "../helpers/client.ts";
import { runtimes } from "../helpers/runtimes.ts";
import { type RunningServer, startServer, tempDir } from "../helpers/server.ts";
import { eventually, sleep, within } from "../helpers/wait.ts";
import { storedHistory } from "../helpers/writers.ts";
import { Wire, type WireOptions } from "./wire.ts";

/** The client is tested against the Node server; the server's own behaviour on each runtime is the conformance suite's. */
const runtime = runtimes.node;
/** Limits out of the way, for tests that post hundreds of messages. */
const FAST = {
  PARLEY_RATE_BURST: "100000",
  PARLEY_RATE_PER_SEC: "100000",
  PARLEY_FRAME_BURST: "100000",
  PARLEY_FRAME_PER_SEC: "100000",
};

/** Every wait inside a test is bounded; this bounds the test too, so a hang fails instead of stalling the run. */
const it = (name: string, fn: () => Promise<void>) => test(name, { timeout: 30_000 }, fn);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

// ---- servers ------------------------------------------------------------------------------

const servers = new Set<RunningServer>();
/** Servers that outlive one test (started in a `before`). */
const shared = new Set<RunningServer>();

async function serve(env: Record<string, string>, keep = false): Promise<RunningServer> {
  const server = await startServer(() => runtime.command(env), env, 20_000);
  servers.add(server);
  if (keep) shared.add(server);
  return server;
}

/** The same server again, on the same port, so that the clients' URL still leads to it. */
function restart(old: RunningServer, env: Record<string, string>): Promise<RunningServer> {
  return serve({ ...env, PORT: String(old.port) });
}

/** Kill the servers one test started, or (`all`) every one. */
function kill(all: boolean): Promise<unknown> {
  const doomed = [...servers].filter((s) => all || !shared.has(s));
  return Promise.all(
    doomed.map((s) => {
      servers.delete(s);
      // A stopped (SIGSTOP) process dies of SIGKILL too, but a test that failed midway should not leave
      // one frozen if this is ever changed to a gentler signal.
      if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill("SIGCONT");
      return s.stop("SIGKILL");
    }),
  );
}

// ---- clients ------------------------------------------------------------------------------

/** A client and everything it emitted, in order. */
interface Tracked {
  client: ParleyClient;
  wire: Wire;
  states: StateChange[];
  messages: Message[];
  welcomes: WelcomeFrame[];
  resets: string[];
  errors: ErrorFrame[];
  members: User[][];
  /** One line per event, to check the order of different kinds of events. */
  events: string[];
}

const clients = new Set<Tracked>();

function open(
  server: RunningServer,
  room: string,
  options: Partial<ConnectOptions> & { wire?: WireOptions } = {},
): Tracked {
  const { wire: wireOptions, ...rest } = options;
  const wire = new Wire(wireOptions);
  const client = connect(server.url, {
    room,
    WebSocket: wire.WebSocket,
    fetch: wire.fetch,
    backoff: { initialMs: 50, maxMs: 500 },
    ...rest,
  });
  const t: Tracked = {
    client,
    wire,
    states: [],
    messages: [],
    welcomes: [],
    resets: [],
    errors: [],
    members: [],
    events: [],
  };
  client.on("state", (s) => {
    t.states.push(s);
    t.events.push(`state:${s.state}`);
  });
  client.on("message", (m) => {
    t.messages.push(m);
    t.events.push(`message:${m.seq}`);
  });
  client.on("welcome", (w) => {
    t.welcomes.push(w);
    t.events.push("welcome");
  });
  client.on("reset", (r) => {
    t.resets.push(r.epoch);
    t.events.push("reset");
  });
  client.on("error", (e) => t.errors.push(e));
  client.on("members", (m) => t.members.push(m));
  clients.add(t);
  return t;
}

function closeAll() {
  for (const t of clients) {
    t.client.close();
    t.wire.destroy();
  }
  clients.clear();
  terminateAll();
}

/** Poll `cond` until it holds; fail with `what` (evaluated late, so it can show the state) after `ms`. */

const live = (t: Tracked, ms = 5000) =>
  eventually(
    () => t.client.state === "live",
    () => `live; states so far ${JSON.stringify(t.states)}`,
    ms,
  );
const inState = (t: Tracked, state: StateChange["state"], ms = 5000) =>
  eventually(
    () => t.client.state === state,
    () => `${state}; states so far ${JSON.stringify(t.states)}`,
    ms,
  );
const seqs = (t: Tracked) => t.messages.map((m) => m.seq);
const count = (messages: Message[], text: string) => messages.filter((m) => m.text === text).length;
const names = (users: Iterable<User>) => [...users].map((u) => u.name).sort();
/** Every `say` of `text` this client put on the wire, over all its sockets. */
const saysOf = (t: Tracked, text: string) =>
  t.wire.sockets.flatMap((s) => s.sentOf("say")).filter((f) => f.text === text).length;

async function post(t: Tracked, texts: string[]): Promise<AckFrame[]> {
  return within(Promise.all(texts.map((x) => t.client.say(x))), 15_000, `acks for ${texts.length} messages`);
}

/**
 * Lose the frames after `text`'s own message reaches `t` (its message and its ack), then drop the
 * connection: the server committed the message, the client never learned it. `cut` keeps the network
 * down afterwards until the test mends it.
 */
function loseAckOf(t: Tracked, text: string, cut = false): { lost: () => boolean } {
  const socket = t.wire.last;
  let lost = false;
  socket.lose = (f) => {
    if (!lost && f.type === "message" && f.text === text) {
      lost = true;
      setImmediate(() => (cut ? t.wire.cut() : socket.inner?.terminate()));
    }
    return lost;
  };
  return { lost: () => lost };
}

let lastRoom = 0;
const room = () => `client-${process.pid}-${++lastRoom}`;
/** Headers that make a connection come from `ip` on a server that trusts X-Forwarded-For. */
const from = (ip: string) => ({ headers: { "x-forwarded-for": ip } });

// ---- the tests ----------------------------------------------------------------------------

describe("client (src/client/) against a node server", () => {
  /** Shared by the tests that need no restart; each test has its own room. */
  let main: RunningServer;
  /** One member per room and one socket per address, with addresses from X-Forwarded-For. */
  let limits: RunningServer;
  /** A small rate bucket, refilled fast. */
  let paced: RunningServer;

  before(async () => {
    [main, limits, paced] = await Promise.all([
      serve({ PARLEY_DB: `${tempDir()}/parley.db`, ...FAST }, true),
      serve(
        {
          PARLEY_DB: ":memory:",
          PARLEY_TRUST_PROXY: "1",
          PARLEY_MAX_MEMBERS: "1",
          PARLEY_MAX_CONNECTIONS_PER_IP: "1",
        },
        true,
      ),
      serve({ PARLEY_DB: ":memory:", PARLEY_RATE_BURST: "5", PARLEY_RATE_PER_SEC: "10" }, true),
    ]);
  });
  afterEach(async () => {
    closeAll();
    await kill(false);
  });
  after(async () => {
    closeAll();
    await kill(true);
  });

  it("connect: live with welcome, me and members; two clients see every message once in seq order; acks match", async () => {
    const r = room();
    const a = open(main, r, { name: "ada" });
    await live(a);
    assert.equal(a.welcomes.length, 1);
    const w = a.welcomes[0];
    assert.equal(w.room, r);
    assert.equal(w.resumed, false);
    assert.equal(w.seq, 0);
    assert.deepEqual(a.client.me, w.you);
    assert.equal(a.client.me?.name, "ada");
    assert.equal(a.client.token, w.token);
    assert.equal(a.client.epoch, w.epoch);
    assert.deepEqual([...a.client.members.values()], [w.you]);

    const b = open(main, r, { name: "bob" });
    await live(b);
    await eventually(() => a.client.members.size === 2, "ada to see bob join");
    assert.deepEqual(names(a.client.members.values()), ["ada", "bob"]);
    assert.deepEqual(names(b.client.members.values()), ["ada", "bob"]);
    assert.deepEqual(names(a.members.at(-1) ?? []), ["ada", "bob"]);
    assert.notEqual(a.client.me?.id, b.client.me?.id);

    const said: [Tracked, string, Promise<AckFrame>][] = [
      [a, "a1", a.client.say("a1")],
      [b, "b1", b.client.say("b1")],
      [a, "a2", a.client.say("a2")],
      [b, "b2", b.client.say("b2")],
    ];
    const acks = await within(Promise.all(said.map(([, , p]) => p)), 5000, "four acks");
    // A ping is answered after everything sent before it, so any extra message would be here by now.
    await a.client.ping();
    await b.client.ping();
    assert.deepEqual(seqs(a), [1, 2, 3, 4]);
    assert.deepEqual(b.messages, a.messages);
    for (const [i, [sender, text]] of said.entries()) {
      assert.equal(count(a.messages, text), 1, text);
      const m = a.messages.find((x) => x.text === text) as Message;
      assert.equal(acks[i].type, "ack");
      assert.equal(acks[i].seq, m.seq, `ack of ${text}`);
      assert.equal(acks[i].ref, m.ref);
      assert.equal(m.from.id, sender.client.me?.id);
    }
    assert.deepEqual(a.client.queued(), []);
    assert.deepEqual(
      a.states.map((s) => s.state),
      ["connecting", "live"],
    );
  });

  it("server killed (-9) and restarted on the same port and database: the same user, every missed message once", async () => {
    const env = { PARLEY_DB: `${tempDir()}/parley.db`, ...FAST };
    const s1 = await serve(env);
    const r = room();
    const a = open(s1, r, { name: "ada" });
    const b = open(s1, r, { name: "bob" });
    await live(a);
    await live(b);
    await post(b, ["m1", "m2", "m3"]);
    await eventually(() => a.messages.length === 3, "ada to get m1..m3");
    const { me, token } = a.client;

    // Ada stays away after the restart until Bob has posted, so that she has something to catch up on.
    a.wire.down = true;
    await s1.stop("SIGKILL");
    await inState(a, "reconnecting");
    await inState(b, "reconnecting");
    assert.equal(a.states.find((s) => s.state === "reconnecting")?.code, 1006);

    await restart(s1, env);
    await live(b, 10_000);
    await post(b, ["m4", "m5", "m6", "m7"]);
    a.wire.mend();
    await live(a, 10_000);
    await eventually(
      () => a.client.seq === 7,
      () => `ada to catch up; seqs ${seqs(a)}`,
    );
    await a.client.ping();

    assert.deepEqual(seqs(a), range(1, 7));
    assert.deepEqual(
      a.messages.map((m) => m.text),
      ["m1", "m2", "m3", "m4", "m5", "m6", "m7"],
    );
    assert.deepEqual(seqs(b), range(1, 7));
    assert.deepEqual(a.client.me, me);
    assert.equal(a.client.token, token);
    const last = a.welcomes.at(-1) as WelcomeFrame;
    assert.equal(last.resumed, true);
    assert.deepEqual(
      last.messages.map((m) => m.seq),
      [4, 5, 6, 7],
    );
    assert.equal(a.states.at(-1)?.state, "live");
  });

  it("offline queue: messages said while the server is down are posted once after the resume", async () => {
    const env = { PARLEY_DB: `${tempDir()}/parley.db`, ...FAST };
    const s1 = await serve(env);
    const r = room();
    const a = open(s1, r, { name: "ada" });
    const b = open(s1, r, { name: "bob" });
    await live(a);
    await live(b);
    await post(b, ["before"]);
    await eventually(() => a.messages.length === 1, "ada to get the first message");

    await s1.stop("SIGKILL");
    await inState(a, "reconnecting");
    const queue: { ref: string; text: string }[][] = [];
    a.client.on("queue", (q) => queue.push(q));
    const texts = ["q1", "q2", "q3"];
    const said = texts.map((x) => a.client.say(x));
    assert.deepEqual(
      a.client.queued().map((q) => q.text),
      texts,
    );
    assert.deepEqual(
      queue.at(-1)?.map((q) => q.text),
      texts,
    );
    // Let a few attempts fail while the server is gone; none of them may send or lose anything.
    await eventually(() => a.wire.sockets.length >= 3, "a few failed attempts");

    const s2 = await restart(s1, env);
    const acks = await within(Promise.all(said), 10_000, "the queued messages' acks");
    assert.deepEqual(
      acks.map((x) => x.seq).sort((x, y) => x - y),
      [2, 3, 4],
    );
    assert.deepEqual(a.client.queued(), []);
    assert.deepEqual(queue.at(-1), []);
    await a.client.ping();
    const all = await storedHistory(s2.url, r);
    assert.deepEqual(all.map((m) => m.text).sort(), ["before", "q1", "q2", "q3"]);
    for (const x of texts) assert.equal(saysOf(a, x), 1, `${x} sent once`);
    await eventually(() => b.client.seq === 4, "bob to get the queued messages");
    await b.client.ping();
    assert.deepEqual(seqs(b), [1, 2, 3, 4]);
  });

  it("a say() from a state listener as the client goes live is posted once", async () => {
    const r = room();
    const a = open(main, r);
    let said: Promise<AckFrame> | undefined;
    a.client.on("state", (s) => {
      if (s.state === "live" && !said) said = a.client.say("said on live");
    });
    await live(a);
    await within(said as Promise<AckFrame>, 5000, "the ack");
    await a.client.ping();
    assert.equal(count(await storedHistory(main.url, r), "said on live"), 1);
    assert.equal(saysOf(a, "said on live"), 1);
  });

  it("a committed message whose ack was lost with the connection is not posted again", async () => {
    // The loss is exact: the server really commits and sends message and ack; the Wire drops both
    // before the client sees them and then drops the connection, as a network failure at that moment would.
    const r = room();
    const a = open(main, r, { name: "ada" });
    const b = open(main, r, { name: "bob" });
    await live(a);
    await live(b);
    await post(b, ["m1"]);
    await eventually(() => a.messages.length === 1, "ada to get m1");

    const text = "committed, ack lost";
    const loss = loseAckOf(a, text);
    const ack = await within(a.client.say(text), 10_000, "the ack, learned from the resume");
    assert.ok(loss.lost(), "the message and ack were lost");
    assert.ok(a.wire.sockets.length >= 2, "the client reconnected");
    assert.equal(a.wire.sockets[0].received.filter((f) => f.type === "ack").length, 0);
    await a.client.ping();

    const all = await storedHistory(main.url, r);
    assert.equal(count(all, text), 1);
    assert.equal(saysOf(a, text), 1);
    assert.equal(ack.seq, all.find((m) => m.text === text)?.seq);
    assert.deepEqual(seqs(a), [1, 2]);
    assert.equal(count(a.messages, text), 1);
    await b.client.ping();
    assert.deepEqual(seqs(b), [1, 2]);
  });

  it("a connection given up for dead whose frames arrive late after all delivers nothing twice", async () => {
    // `ws` still dispatches frames that were read after close() was called; the client has moved on to
    // a new connection by then, so everything on the old one is a repeat.
    const r = room();
    const a = open(main, r, { name: "ada", pingIntervalMs: 100, pongTimeoutMs: 300 });
    const b = open(main, r, { name: "bob" });
    await live(a);
    await live(b);
    await post(b, ["m1"]);
    await eventually(() => a.client.seq === 1, "ada to get m1");
    const old = a.wire.last;
    old.stall();
    await post(b, ["m2"]);
    await eventually(
      () => a.wire.sockets.length >= 2 && a.client.state === "live",
      () => `ada to give up on the stalled connection and resume; ${JSON.stringify(a.states)}`,
    );
    assert.equal(a.states.find((s) => s.state === "reconnecting")?.reason, "no answer to ping");
    await post(b, ["m3"]);
    await eventually(
      () => a.client.seq === 3,
      () => `ada to get m2 and m3; ${seqs(a)}`,
    );
    old.recover();
    assert.ok(
      old.received.some((f) => f.type === "message" && f.seq === 3),
      "the old connection's frames did arrive",
    );
    await a.client.ping();
    assert.deepEqual(seqs(a), [1, 2, 3]);
    assert.deepEqual(names(a.client.members.values()), ["ada", "bob"]);
  });

  it("resume window exceeded: a gap of 260 messages is paged with history, each once and in order", async () => {
    const r = room();
    const a = open(main, r, { name: "ada" });
    const b = open(main, r, { name: "bob" });
    await live(a);
    await live(b);
    await post(
      b,
      range(1, 5).map((i) => `m${i}`),
    );
    await eventually(() => a.messages.length === 5, "ada to get m1..m5");

    // Her own message's ack is lost too: the paging must find it and settle it without a resend.
    const text = "said just before the cut";
    loseAckOf(a, text, true);
    const said = a.client.say(text);
    await inState(a, "reconnecting");
    await post(
      b,
      range(1, 260).map((i) => `n${i}`),
    );
    a.wire.mend();
    const ack = await within(said, 10_000, "the lost ack, learned from the paging");
    await eventually(
      () => a.client.seq === 266,
      () => `ada to catch up; at ${a.client.seq}`,
      10_000,
    );
    await live(a);
    await a.client.ping();

    assert.deepEqual(seqs(a), range(1, 266));
    assert.deepEqual(a.messages, b.messages);
    assert.equal(ack.seq, 6);
    assert.equal(count(a.messages, text), 1);
    assert.equal(saysOf(a, text), 1);
    const last = a.welcomes.at(-1) as WelcomeFrame;
    assert.equal(last.resumed, false, "the server could not replay 261 messages");
    assert.ok(a.wire.last.sentOf("history").length >= 2, "the gap took more than one page");
  });

  it("a client that joined an empty room gets every message posted while it was away, past the welcome's 50", async () => {
    const r = room();
    const a = open(main, r, { name: "ada" });
    await live(a);
    assert.equal(a.client.seq, 0);
    a.wire.cut();
    await inState(a, "reconnecting");
    const b = open(main, r, { name: "bob" });
    await live(b);
    await post(
      b,
      range(1, 70).map((i) => `m${i}`),
    );
    a.wire.mend();
    await live(a, 10_000);
    await eventually(
      () => a.client.seq === 70,
      () => `ada to reach 70; at ${a.client.seq}`,
    );
    await a.client.ping();
    assert.deepEqual(seqs(a), range(1, 70));
  });

  it("paging a long gap waits out the rate limit instead of hanging", async () => {
    // The history pages take rate tokens like any frame. A restart onto a one-token bucket makes the
    // second page rate_limited, which a client must wait out rather than wait for forever.
    const db = `${tempDir()}/parley.db`;
    const s1 = await serve({ PARLEY_DB: db, ...FAST });
    const r = room();
    const a = open(s1, r, { name: "ada" });
    const b = open(s1, r, { name: "bob" });
    await live(a);
    await live(b);
    await post(b, ["m1", "m2", "m3"]);
    await eventually(() => a.messages.length === 3, "ada to get m1..m3");
    a.wire.cut();
    await inState(a, "reconnecting");
    await post(
      b,
      range(4, 203).map((i) => `m${i}`),
    );
    b.client.close();
    await s1.stop("SIGKILL");
    await restart(s1, { PARLEY_DB: db, PARLEY_RATE_BURST: "1", PARLEY_RATE_PER_SEC: "2" });
    a.wire.mend();
    await eventually(
      () => a.client.seq === 203,
      () => `ada to catch up; at ${a.client.seq}`,
      10_000,
    );
    await live(a);
    assert.deepEqual(seqs(a), range(1, 203));
    assert.ok(
      a.wire.last.received.some((f) => f.type === "error" && f.code === "rate_limited"),
      "a page was rate limited",
    );
  });

  it("a new epoch (an in-memory server restarted): reset, then the new life's messages", async () => {
    const env = { PARLEY_DB: ":memory:" };
    const s1 = await serve(env);
    const r = room();
    const a = open(s1, r, { name: "ada" });
    const b = open(s1, r, { name: "bob" });
    await live(a);
    await live(b);
    await post(b, ["old-1", "old-2", "old-3"]);
    await eventually(() => a.client.seq === 3, "ada to get the old messages");
    const oldEpoch = a.client.epoch;

    a.wire.down = true;
    await s1.stop("SIGKILL");
    await inState(a, "reconnecting");
    await restart(s1, env);
    await live(b, 10_000);
    const newEpoch = b.client.epoch;
    assert.notEqual(newEpoch, oldEpoch);
    assert.deepEqual(b.resets, [newEpoch]);
    await post(b, ["new-1"]);
    a.wire.mend();
    await live(a, 10_000);
    await post(b, ["new-2"]);
    await eventually(
      () => a.messages.length === 5,
      () => `ada to get both new messages; ${seqs(a)}`,
    );
    await a.client.ping();

    assert.deepEqual(a.resets, [newEpoch]);
    assert.equal(a.client.epoch, newEpoch);
    assert.deepEqual(
      a.messages.map((m) => [m.seq, m.text]),
      [
        [1, "old-1"],
        [2, "old-2"],
        [3, "old-3"],
        [1, "new-1"],
        [2, "new-2"],
      ],
    );
    const reset = a.events.indexOf("reset");
    assert.deepEqual(
      a.events.slice(reset).filter((e) => e.startsWith("message")),
      ["message:1", "message:2"],
    );
    assert.ok(a.events.indexOf("message:3") < reset);
  });

  describe("close codes", () => {
    it("1000: close() stops, rejects what was not sent, and never reconnects", async () => {
      const r = room();
      const a = open(main, r, { name: "ada" });
      const b = open(main, r, { name: "bob" });
      await live(a);
      await live(b);
      await eventually(() => b.client.members.size === 2, "bob to see ada");
      a.client.close();
      assert.equal(a.client.state, "stopped");
      assert.deepEqual(a.states.at(-1), { state: "stopped", code: 1000, reason: "closed by the client" });
      await eventually(() => b.client.members.size === 1, "bob to see ada leave");
      await assert.rejects(a.client.ping(), { name: "ParleyError", code: "offline" });
      await assert.rejects(within(a.client.say("after close"), 2000, "say() after close() to settle"), {
        name: "ParleyError",
        code: "stopped",
      });
      await sleep(300);
      assert.equal(a.wire.sockets.length, 1);

      // Offline, with a message waiting: close() rejects it rather than leave it pending forever.
      const c = open(main, r);
      await live(c);
      c.wire.cut();
      await inState(c, "reconnecting");
      const waiting = c.client.say("never sent");
      c.client.close();
      await assert.rejects(waiting, { name: "ParleyError", code: "stopped" });
      assert.deepEqual(c.client.queued(), []);
    });

    it("client bugs stop the client: 1009 (frame too big), 1003 (binary), 1008 (too many rejected frames)", async () => {
      const cases: [number, (ws: NonNullable<Wire["last"]["inner"]>) => void][] = [
        [1009, (ws) => ws.send("x".repeat(20_000))],
        [1003, (ws) => ws.send(Buffer.from([1, 2, 3]))],
        [
          1008,
          (ws) => {
            for (let i = 0; i < 31; i++) ws.send("not json");
          },
        ],
      ];
      for (const [code, act] of cases) {
        const t = open(main, room());
        await live(t);
        act(t.wire.last.inner as NonNullable<Wire["last"]["inner"]>);
        await inState(t, "stopped");
        assert.equal(t.states.at(-1)?.code, code);
        await sleep(200);
        assert.equal(t.wire.sockets.length, 1, `no reconnect after ${code}`);
        if (code === 1008) assert.ok(t.errors.length >= 30, "the unclaimed error frames were emitted");
      }
    });

    it("1001 (server SIGTERM): reconnects and resumes once the server is back", async () => {
      const env = { PARLEY_DB: `${tempDir()}/parley.db` };
      const s1 = await serve(env);
      const r = room();
      const a = open(s1, r, { name: "ada" });
      await live(a);
      await a.client.say("before");
      const me = a.client.me;
      assert.equal(await s1.stop("SIGTERM"), 0);
      await inState(a, "reconnecting");
      assert.equal(a.states.find((s) => s.state === "reconnecting")?.code, 1001);
      await restart(s1, env);
      await live(a, 10_000);
      assert.deepEqual(a.client.me, me);
      assert.equal(a.welcomes.at(-1)?.resumed, true);
      assert.deepEqual(seqs(a), [1]);
    });

    it("1013 room_full: reconnects with backoff until there is room", async () => {
      const r = room();
      const b = open(limits, r, { name: "bob", wire: from("10.1.0.1") });
      await live(b);
      const a = open(limits, r, { name: "ada", wire: from("10.1.0.2") });
      await eventually(
        () => a.states.some((s) => s.code === 1013),
        () => `a 1013; ${JSON.stringify(a.states)}`,
      );
      const full = a.states.find((s) => s.code === 1013) as StateChange;
      assert.equal(full.state, "reconnecting");
      assert.equal(full.reason, "room_full");
      assert.ok((full.retryInMs ?? 0) >= 1000, `backs off (${full.retryInMs} ms)`);
      assert.equal(a.welcomes.length, 0);
      b.client.close();
      await live(a, 10_000);
      assert.deepEqual(names(a.client.members.values()), ["ada"]);
    });
  });

  describe("refused handshakes", () => {
    const refusals: [string, () => ReturnType<typeof open>, number, string][] = [
      // The Wire sends the Origin header on the diagnostic GET too, as a browser does cross-origin.
      [
        "a forbidden origin",
        () => open(main, room(), { wire: { headers: { origin: "http://elsewhere.example" } } }),
        403,
        "this origin may not open chat sockets here",
      ],
      ["a bad room name", () => open(main, "no spaces allowed"), 400, "room names are 1–64 of A–Z a–z 0–9 - _"],
    ];
    for (const [what, start, code, reason] of refusals) {
      it(`${what} stops with ${code} and the server's reason`, async () => {
        const a = start();
        await inState(a, "stopped");
        assert.deepEqual(a.states, [{ state: "connecting" }, { state: "stopped", code, reason }]);
        assert.equal(a.wire.sockets.length, 1);
      });
    }

    it("the per-address cap (429) backs off, and gets in once the other connection closes", async () => {
      const r = room();
      const ip = "10.2.0.1";
      const other = await join(`${limits.wsUrl}/rooms/${room()}/ws`, from(ip));
      const a = open(limits, r, { wire: from(ip) });
      await inState(a, "reconnecting");
      const refused = a.states.find((s) => s.state === "reconnecting") as StateChange;
      assert.equal(refused.reason, "too many open connections from this address");
      assert.ok((refused.retryInMs ?? 0) >= 5000, `waits for sockets to close (${refused.retryInMs} ms)`);
      assert.equal(a.welcomes.length, 0);
      await other.client.close();
      await live(a, 10_000);
    });
  });

  describe("the connect rate (PROTOCOL-v2 section 5)", () => {
    /** Two attempts, then one every 4 s, per address. */
    let rated: RunningServer;
    before(async () => {
      rated = await serve(
        { PARLEY_DB: ":memory:", PARLEY_TRUST_PROXY: "1", PARLEY_CONNECT_BURST: "2", PARLEY_CONNECT_PER_SEC: "0.25" },
        true,
      );
    });

    it("a 429 with Retry-After makes the client wait that long, then it gets in", async () => {
      const ip = "10.3.0.1";
      // Two plain GETs spend the address's burst, as a flood from the same network would.
      for (let i = 0; i < 2; i++) await (await fetch(`${rated.url}/rooms/${room()}/ws`, from(ip))).arrayBuffer();
      const a = open(rated, room(), { wire: from(ip) });
      await inState(a, "reconnecting");
      const refused = a.states.find((s) => s.state === "reconnecting") as StateChange;
      assert.equal(refused.reason, "too many connection attempts from this address");
      assert.ok((refused.retryInMs ?? 0) >= 1000, `waits for Retry-After (${refused.retryInMs} ms)`);
      await live(a, 20_000);
    });
  });

  describe("keep-alive", () => {
    /** Drops a connection after 2 s without a frame or a pong. */
    let idle: RunningServer;
    before(async () => {
      idle = await serve({ PARLEY_DB: ":memory:", PARLEY_IDLE_TIMEOUT_MS: "2000" }, true);
    });

    it("application pings keep a connection past the idle timeout; a silent one is dropped", async () => {
      const r = room();
      // No protocol pongs on either: only the client's own pings can count as life.
      const a = open(idle, r, { pingIntervalMs: 500, wire: { autoPong: false } });
      const silent = open(idle, r, { pingIntervalMs: 60_000, wire: { autoPong: false } });
      await live(a);
      await live(silent);
      const since = Date.now();
      await eventually(() => silent.client.state !== "live", "the silent client to be dropped", 8000);
      await sleep(Math.max(0, 4500 - (Date.now() - since)));
      assert.equal(a.client.state, "live");
      assert.deepEqual(
        a.states.map((s) => s.state),
        ["connecting", "live"],
      );
      assert.equal(a.wire.sockets.length, 1);
      assert.ok(a.wire.last.sentOf("ping").length >= 6, `pinged ${a.wire.last.sentOf("ping").length} times`);
      assert.ok(a.wire.last.received.some((f) => f.type === "pong"));
    });

    it("a server that stops answering (SIGSTOP) is detected by the pong timeout; the client reconnects", async () => {
      const a = open(idle, room(), { pingIntervalMs: 200, pongTimeoutMs: 600 });
      await live(a);
      const pid = idle.proc.pid as number;
      process.kill(pid, "SIGSTOP");
      try {
        await inState(a, "reconnecting");
      } finally {
        process.kill(pid, "SIGCONT");
      }
      const drop = a.states.find((s) => s.state === "reconnecting") as StateChange;
      assert.equal(drop.reason, "no answer to ping");
      assert.equal(drop.code, 1006);
      await live(a, 10_000);
      assert.ok(a.wire.sockets.length >= 2);
    });
  });

  describe("calls", () => {
    it("history() and ping() answer with typed frames; offline they reject", async () => {
      const r = room();
      const a = open(main, r);
      const b = open(main, r);
      await live(a);
      await live(b);
      await post(
        b,
        range(1, 5).map((i) => `m${i}`),
      );
      await eventually(() => a.client.seq === 5, "ada to get m1..m5");

      const newest = await a.client.history(a.client.seq + 1, 2);
      assert.equal(newest.type, "history");
      assert.equal(typeof newest.ref, "string");
      assert.equal(newest.more, true);
      assert.deepEqual(newest.messages, a.messages.slice(3));
      const oldest = await a.client.history(3, 100);
      assert.equal(oldest.more, false);
      assert.deepEqual(
        oldest.messages.map((m) => m.text),
        ["m1", "m2"],
      );
      const pong = await a.client.ping();
      assert.equal(pong.type, "pong");
      assert.equal(typeof pong.ref, "string");

      // A request out when the connection drops is answered by the drop, not left hanging.
      const inFlight = a.client.history(a.client.seq + 1);
      a.wire.cut();
      await assert.rejects(within(inFlight, 2000, "the request to fail"), { name: "ParleyError", code: "offline" });
      await inState(a, "reconnecting");
      await assert.rejects(a.client.ping(), { name: "ParleyError", code: "offline" });
      await assert.rejects(a.client.history(1), { name: "ParleyError", code: "offline" });
    });

    it("rate_limited says are retried automatically and all acknowledged, without being closed for strikes", async () => {
      const r = room();
      const a = open(paced, r);
      await live(a);
      const texts = range(1, 20).map((i) => `r${i}`);
      const acks = await within(Promise.all(texts.map((x) => a.client.say(x))), 15_000, "20 acks");
      assert.deepEqual(
        acks.map((x) => x.seq).sort((x, y) => x - y),
        range(1, 20),
      );
      assert.ok(
        a.wire.last.received.some((f) => f.type === "error" && f.code === "rate_limited"),
        "some were rate limited",
      );
      assert.deepEqual(
        a.states.map((s) => s.state),
        ["connecting", "live"],
      );
      // The bucket is empty now, and ping() takes a token like any frame: ask until it gets one.
      for (let tries = 0; ; tries++) {
        const pong = await a.client.ping().catch((e: ParleyError) => e);
        if (!(pong instanceof ParleyError)) break;
        assert.ok(tries < 20, "ping() never got a token");
        assert.equal(pong.code, "rate_limited");
        await sleep(pong.retryAfterMs ?? 100);
      }
      // Retries go one at a time, oldest first: the room has them in the order they were said.
      const all = await storedHistory(paced.url, r);
      assert.deepEqual(
        all.map((m) => m.text),
        texts,
      );
    });

    it("rename() resolves once the room has the name, also when asked while the socket is opening", async () => {
      const r = room();
      const a = open(main, r, { name: "before" });
      const early = a.client.rename("early");
      const user = await within(early, 5000, "the early rename");
      assert.equal(user.name, "early");
      assert.equal(a.client.me?.name, "early");
      const b = open(main, r);
      await live(b);
      const renamed = new Promise<User>((resolve) => b.client.on("renamed", (f) => resolve(f.user)));
      assert.equal((await a.client.rename("later")).name, "later");
      assert.equal((await within(renamed, 5000, "bob to see it")).name, "later");
      // A name the server refuses rejects with its code; the name stays as it was.
      await assert.rejects(a.client.rename("x".repeat(33)), { name: "ParleyError", code: "bad_name" });
      assert.equal(a.client.name, "later");
      assert.deepEqual(a.errors, [], "a claimed error is not emitted as well");
    });

    it("a handshake that never completes is given up after connectTimeoutMs and retried", async () => {
      const { createServer } = await import("node:net");
      const sockets: import("node:net").Socket[] = [];
      // Accepts the connection and never answers the upgrade.
      const mute = createServer((socket) => sockets.push(socket));
      await new Promise<void>((resolve) => mute.listen(0, "127.0.0.1", resolve));
      const port = (mute.address() as import("node:net").AddressInfo).port;
      try {
        const a = open({ url: `http://127.0.0.1:${port}` } as RunningServer, room(), { connectTimeoutMs: 300 });
        await inState(a, "reconnecting");
        assert.equal(a.states.find((s) => s.state === "reconnecting")?.reason, "the handshake timed out");
        await eventually(() => sockets.length >= 2, "a second attempt", 5000);
        a.client.close();
      } finally {
        for (const socket of sockets) socket.destroy();
        mute.close();
      }
    });

    it("a too-long text rejects with ParleyError too_long; the client carries on", async () => {
      const a = open(main, room());
      await live(a);
      const err = await a.client.say("x".repeat(2001)).then(
        () => assert.fail("a 2001-character text was accepted"),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ParleyError);
      assert.equal(err.code, "too_long");
      assert.deepEqual(a.client.queued(), []);
      assert.deepEqual(a.errors, [], "a claimed error is not emitted as well");
      assert.equal(a.client.state, "live");
      const ack = await a.client.say("x".repeat(2000));
      assert.equal(ack.seq, 1);
    });
  });
});
