import assert from "node:assert/strict";
import { describe, test } from "node:test";
import Database from "better-sqlite3";
import { type Config, loadConfig } from "../../src/config.ts";
import { setupLogging } from "../../src/log.ts";
import type { Message, ServerFrame, WelcomeFrame } from "../../src/protocol/index.ts";
import { type Defer, type JoinRequest, type Publish, Room } from "../../src/room.ts";
import { Rooms } from "../../src/rooms.ts";
import { statementDriver } from "../../src/store/statements.ts";
import { SqlStore } from "../../src/store/store.ts";
import { utf8Length } from "../../src/text.ts";
import { FakeConnection } from "../helpers/fake-connection.ts";

const T0 = 1_700_000_000_000;
const ROOM = "lobby";

/** A socket stand-in (tests/helpers/fake-connection.ts). */
class FakeConn extends FakeConnection {}

const newStore = () => new SqlStore(statementDriver(new Database(":memory:")));

function message(seq: number): Message {
  return { type: "message", seq, ts: T0 + seq, from: { id: "1", name: "old" }, text: `m${seq}` };
}

interface Setup {
  config?: Partial<Config>;
  /** Messages 1..n committed before the room is built. */
  prefill?: number;
  /** When the room's group commits run (default: at once). */
  defer?: Defer;
  /** A native publish, as Bun's adapter gives one. */
  publish?: Publish;
}

function setup({ config: over = {}, prefill = 0, defer, publish }: Setup = {}) {
  const store = newStore();
  const config = { ...loadConfig({}), ...over };
  store.meta(ROOM);
  for (let seq = 1; seq <= prefill; seq++) store.append(ROOM, message(seq), config.historyLimit);
  const clock = { now: T0 };
  const room = new Room(ROOM, { store, config, now: () => clock.now, defer, publish });
  let cid = 0;
  const join = (req: Partial<JoinRequest> = {}, conn = new FakeConn()) => {
    room.join(conn, { group: "10.0.0.1", ...req }, String(++cid));
    return conn;
  };
  const send = (conn: FakeConn, frame: object) => room.receive(conn, JSON.stringify(frame));
  return { store, config, clock, room, join, send };
}

/** Two members, their welcomes already taken. */
function twoMembers(join: () => FakeConn): [FakeConn, FakeConn] {
  const a = join();
  const b = join();
  a.take();
  b.take();
  return [a, b];
}

/** Make every commit of `store` fail ("disk full") until the returned function is called. */
function failCommits(store: SqlStore): () => void {
  const appendAll = store.appendAll;
  store.appendAll = () => {
    throw new Error("disk full");
  };
  return () => {
    store.appendAll = appendAll;
  };
}

const closeCodes = (conn: FakeConn) => conn.closed.map((c) => c.code);
const seqs = (frames: ServerFrame[]) => frames.map((f) => (f.type === "message" ? f.seq : f.type));

test("utf8Length counts UTF-8 bytes", () => {
  for (const s of ["", "abc", "é", "名前", "\u{1F600}", "a\u{1F600}é"]) {
    assert.equal(utf8Length(s), Buffer.byteLength(s), s);
  }
  assert.equal(utf8Length("\ud800"), 3, "a lone surrogate is U+FFFD");
});

describe("Room: joining and leaving", () => {
  test("welcome is the first and only frame of a fresh connection", () => {
    const { room, join, store } = setup();
    const a = join({ name: "ann" });
    assert.equal(a.sent.length, 1);
    const w = a.welcome;
    assert.match(w.token, /^[0-9a-f]{32}$/);
    assert.deepEqual(w, {
      type: "welcome",
      room: ROOM,
      epoch: store.meta(ROOM).epoch,
      you: { id: "1", name: "ann" },
      token: w.token,
      members: [{ id: "1", name: "ann" }],
      messages: [],
      seq: 0,
      resumed: false,
    });
    assert.equal(room.epoch, w.epoch);
    assert.equal(room.size, 1);
  });

  test("without a name the server picks guest-<id>", () => {
    const { join } = setup();
    join({ name: "ann" });
    assert.deepEqual(join().user, { id: "2", name: "guest-2" });
  });

  test("joined goes to everyone else; members lists each user once", () => {
    const { join } = setup();
    const a = join({ name: "ann" });
    const b = join({ name: "bob" });
    assert.deepEqual(a.take().slice(1), [{ type: "joined", user: { id: "2", name: "bob" } }]);
    const frames = b.take();
    assert.equal(frames.length, 1);
    assert.deepEqual((frames[0] as WelcomeFrame).members, [
      { id: "1", name: "ann" },
      { id: "2", name: "bob" },
    ]);
  });

  test("left goes to everyone else when a user's only connection leaves", () => {
    const { room, join } = setup();
    const a = join({ name: "ann" });
    const b = join({ name: "bob" });
    a.take();
    b.take();
    assert.equal(room.leave(b), true);
    assert.deepEqual(a.take(), [{ type: "left", user: { id: "2", name: "bob" } }]);
    assert.deepEqual(b.take(), []);
    assert.equal(room.leave(b), false, "a second leave is a no-op");
    assert.deepEqual(a.take(), []);
    assert.deepEqual(room.memberList(), [{ id: "1", name: "ann" }]);
  });

  test("a second connection of the same user (token): no second joined, left only after the last", () => {
    const { room, join } = setup();
    const a1 = join({ name: "ann" });
    const b = join({ name: "bob" });
    const a2 = join({ token: a1.welcome.token });
    assert.deepEqual(a2.user, { id: "1", name: "ann" });
    assert.deepEqual(a2.welcome.members, [
      { id: "1", name: "ann" },
      { id: "2", name: "bob" },
    ]);
    assert.equal(a2.welcome.token, a1.welcome.token);
    assert.deepEqual(b.take().slice(1), [], "no joined for a second connection");
    assert.equal(room.size, 3);

    room.leave(a1);
    assert.deepEqual(b.take(), []);
    room.leave(a2);
    assert.deepEqual(b.take(), [{ type: "left", user: { id: "1", name: "ann" } }]);
  });

  test("a token restores the id and name of a user who left", () => {
    const { room, join } = setup();
    const a = join({ name: "ann" });
    join({ name: "bob" });
    room.leave(a);
    const back = join({ token: a.welcome.token });
    assert.deepEqual(back.user, { id: "1", name: "ann" });
    assert.equal(back.welcome.token, a.welcome.token);
  });

  test("a token with a new name keeps the id and stores the name", () => {
    const { room, join, store } = setup();
    const a = join({ name: "ann" });
    const b = join({ name: "bob" });
    room.leave(a);
    b.take();
    const back = join({ token: a.welcome.token, name: "anna" });
    assert.deepEqual(back.user, { id: "1", name: "anna" });
    assert.deepEqual(b.take(), [{ type: "joined", user: { id: "1", name: "anna" } }]);
    assert.equal(store.userByToken(ROOM, a.welcome.token)?.name, "anna");
  });

  test("a present user's new connection with a new name renames the user everywhere", () => {
    const { join, store } = setup();
    const a = join({ name: "ann" });
    const b = join({ name: "bob" });
    a.take();
    b.take();
    const a2 = join({ token: a.welcome.token, name: "anna" });
    const renamed = { type: "renamed", user: { id: "1", name: "anna" }, from: "ann" };
    // The new connection is welcomed under the new name; the rename is news only to the others.
    assert.deepEqual(a2.take().slice(1), []);
    assert.deepEqual(a.take(), [renamed]);
    assert.deepEqual(b.take(), [renamed]);
    assert.equal(a.record?.name, "anna");
    assert.equal(store.userByToken(ROOM, a.welcome.token)?.name, "anna");
  });

  test("a present user's new connection with a new name is welcomed under that name", () => {
    const { join } = setup();
    const a = join({ name: "ann" });
    const a2 = join({ token: a.welcome.token, name: "anna" });
    assert.deepEqual(a2.welcome.you, { id: "1", name: "anna" });
    assert.deepEqual(a2.welcome.members, [{ id: "1", name: "anna" }]);
  });

  test("an unknown token gets a new user", () => {
    const { join } = setup();
    join({ name: "ann" });
    const b = join({ token: "f".repeat(32), name: "bob" });
    assert.equal(b.user.id, "2");
    assert.notEqual(b.welcome.token, "f".repeat(32));
  });

  test("a full room closes 1013 room_full and sends no welcome", () => {
    const { room, join } = setup({ config: { maxMembers: 2 } });
    const a = join({ name: "ann" });
    const b = join({ name: "bob" });
    a.take();
    b.take();
    const c = new FakeConn();
    assert.equal(room.join(c, { group: "10.0.0.1", name: "cat" }, "x"), false);
    assert.deepEqual(c.sent, []);
    assert.deepEqual(c.closed, [{ code: 1013, reason: "room_full" }]);
    assert.deepEqual(a.take(), []);
    assert.equal(room.size, 2);
    assert.equal(room.memberList().length, 2);
  });

  test("a user already in a full room is admitted on another connection", () => {
    const { room, join } = setup({ config: { maxMembers: 2 } });
    const a = join({ name: "ann" });
    join({ name: "bob" });
    const a2 = join({ token: a.welcome.token });
    assert.deepEqual(closeCodes(a2), []);
    assert.deepEqual(a2.user, { id: "1", name: "ann" });
    assert.equal(room.size, 3);
    assert.equal(room.memberList().length, 2);
  });

  test("members count users, so a returning user whose connections all closed is refused when full", () => {
    const { room, join } = setup({ config: { maxMembers: 2 } });
    const a = join({ name: "ann" });
    join({ name: "bob" });
    room.leave(a);
    join({ name: "cat" });
    const back = join({ token: a.welcome.token });
    assert.deepEqual(back.closed, [{ code: 1013, reason: "room_full" }]);
    assert.deepEqual(back.sent, []);
  });
});

describe("Room: frames", () => {
  test("say: message to everyone, sender included, then ack only when there is a ref", () => {
    const { room, join, send, clock, store } = setup();
    const a = join({ name: "ann" });
    const b = join({ name: "bob" });
    a.take();
    b.take();
    clock.now = T0 + 5;
    send(a, { type: "say", text: " hi <b> ", ref: "r1" });
    const m1 = { type: "message", seq: 1, ts: T0 + 5, from: { id: "1", name: "ann" }, text: " hi <b> ", ref: "r1" };
    assert.deepEqual(a.take(), [m1, { type: "ack", ref: "r1", seq: 1 }]);
    assert.deepEqual(b.take(), [m1]);

    send(b, { type: "say", text: "yo" });
    const m2 = { type: "message", seq: 2, ts: T0 + 5, from: { id: "2", name: "bob" }, text: "yo" };
    assert.deepEqual(b.take(), [m2]);
    assert.deepEqual(a.take(), [m2]);
    assert.deepEqual(store.after(ROOM, 0), [m1, m2]);
    assert.equal(room.info().seq, 2);
  });

  test("seq rises by exactly one, in the same order for every member", () => {
    const { room, join, send } = setup();
    const conns = [join(), join(), join()];
    for (const c of conns) c.take();
    for (let i = 0; i < 9; i++) send(conns[i % 3], { type: "say", text: `t${i}` });
    for (const c of conns) {
      const messages = c.take().filter((f) => f.type === "message");
      assert.deepEqual(seqs(messages), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
      assert.deepEqual(
        messages.map((m) => m.type === "message" && m.text),
        ["t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8"],
      );
    }
    assert.equal(room.info().seq, 9);
    assert.equal(join().welcome.seq, 9);
  });

  test("bad say text: too_long and blank are rejected with the ref, nothing relayed", () => {
    const { room, join, send } = setup({ config: { maxText: 10 } });
    const a = join();
    const b = join();
    a.take();
    b.take();
    send(a, { type: "say", text: "x".repeat(11), ref: "r" });
    send(a, { type: "say", text: "   " });
    const [tooLong, blank] = a.take();
    assert.deepEqual([tooLong.type, blank.type], ["error", "error"]);
    assert.equal(tooLong.type === "error" && tooLong.code, "too_long");
    assert.equal(tooLong.type === "error" && tooLong.ref, "r");
    assert.equal(blank.type === "error" && blank.code, "bad_frame");
    assert.deepEqual(b.take(), []);
    assert.equal(room.info().seq, 0);
    send(a, { type: "say", text: "x".repeat(10) });
    assert.deepEqual(seqs(a.take()), [1]);
  });

  test("malformed frames get bad_json or bad_frame and are not relayed", () => {
    const { room, join } = setup();
    const a = join();
    const b = join();
    a.take();
    b.take();
    room.receive(a, "{nope");
    room.receive(a, JSON.stringify({ type: "say", text: 1, ref: "r" }));
    room.receive(a, JSON.stringify({ type: "dance" }));
    const codes = a.take().map((f) => f.type === "error" && [f.code, f.ref]);
    assert.deepEqual(codes, [
      ["bad_json", undefined],
      ["bad_frame", "r"],
      ["bad_frame", undefined],
    ]);
    assert.deepEqual(b.take(), []);
  });

  test("rename: renamed goes to everyone, the renamer included, and sticks", () => {
    const { room, join, send, store } = setup();
    const a = join({ name: "ann" });
    const b = join({ name: "bob" });
    a.take();
    b.take();
    send(a, { type: "rename", name: "  anna  " });
    const renamed = { type: "renamed", user: { id: "1", name: "anna" }, from: "ann" };
    assert.deepEqual(a.take(), [renamed]);
    assert.deepEqual(b.take(), [renamed]);
    assert.equal(a.record?.name, "anna");
    assert.equal(store.userByToken(ROOM, a.welcome.token)?.name, "anna");
    assert.deepEqual(room.memberList()[0], { id: "1", name: "anna" });
    send(a, { type: "say", text: "hi" });
    const [m] = b.take();
    assert.deepEqual(m.type === "message" && m.from, { id: "1", name: "anna" });
  });

  test("rename updates the record of every connection of the user", () => {
    const { join, send } = setup();
    const a1 = join({ name: "ann" });
    const a2 = join({ token: a1.welcome.token });
    send(a1, { type: "rename", name: "anna" });
    assert.equal(a2.record?.name, "anna");
    assert.deepEqual(a2.take().at(-1), { type: "renamed", user: { id: "1", name: "anna" }, from: "ann" });
  });

  test("rename to a bad name is bad_name, to the renamer only", () => {
    const { room, join, send } = setup();
    const a = join({ name: "ann" });
    const b = join({ name: "bob" });
    a.take();
    b.take();
    for (const name of ["", "   ", "n".repeat(33), "a\u0000b", "a\u0085b"]) {
      send(a, { type: "rename", name });
      const frames = a.take();
      assert.equal(frames.length, 1);
      assert.equal(frames[0].type === "error" && frames[0].code, "bad_name", JSON.stringify(name));
    }
    assert.deepEqual(b.take(), []);
    assert.deepEqual(room.memberList()[0], { id: "1", name: "ann" });
  });

  test("a rejected rename echoes its valid ref, as a rejected bad_frame rename does", () => {
    const { join, send } = setup();
    const a = join();
    a.take();
    send(a, { type: "rename", name: 5, ref: "r1" });
    send(a, { type: "rename", name: "", ref: "r2" });
    assert.deepEqual(
      a.take().map((f) => f.type === "error" && [f.code, f.ref]),
      [
        ["bad_frame", "r1"],
        ["bad_name", "r2"],
      ],
    );
  });

  test("typing goes to everyone else, at most once per user per 2 s", () => {
    const { join, send, clock } = setup();
    const a = join({ name: "ann" });
    const a2 = join({ token: a.welcome.token });
    const b = join({ name: "bob" });
    a.take();
    a2.take();
    b.take();
    const notice = { type: "typing", user: { id: "1", name: "ann" } };

    send(a, { type: "typing" });
    assert.deepEqual(b.take(), [notice]);
    assert.deepEqual(a.take(), [], "not to the typer");
    assert.deepEqual(a2.take(), [], "not to the typer's other connections");

    send(a, { type: "typing" });
    clock.now = T0 + 1999;
    send(a, { type: "typing" });
    send(a2, { type: "typing" });
    assert.deepEqual(b.take(), [], "throttled per user, across connections");
    assert.deepEqual(a.take(), [], "dropped silently");

    clock.now = T0 + 2000;
    send(a2, { type: "typing" });
    assert.deepEqual(b.take(), [notice]);

    // Another user has a throttle of their own.
    send(b, { type: "typing" });
    assert.deepEqual(a.take(), [{ type: "typing", user: { id: "2", name: "bob" } }]);
  });

  test("history pages older messages to the asker", () => {
    const { join, send } = setup({ prefill: 5 });
    const a = join();
    const b = join();
    a.take();
    b.take();
    send(a, { type: "history", before: 4, limit: 2, ref: "h" });
    assert.deepEqual(a.take(), [{ type: "history", messages: [message(2), message(3)], more: true, ref: "h" }]);
    send(a, { type: "history", before: 3 });
    assert.deepEqual(a.take(), [{ type: "history", messages: [message(1), message(2)], more: false }]);
    assert.deepEqual(b.take(), []);
  });

  test("ping gets pong, with the ref when there is one", () => {
    const { join, send } = setup();
    const a = join();
    const b = join();
    a.take();
    b.take();
    send(a, { type: "ping", ref: "p1" });
    send(a, { type: "ping" });
    assert.deepEqual(a.take(), [{ type: "pong", ref: "p1" }, { type: "pong" }]);
    assert.deepEqual(b.take(), []);
  });

  test("frames from a connection that has not joined are ignored", () => {
    const { room, join } = setup();
    const a = join();
    a.take();
    const stranger = new FakeConn();
    room.receive(stranger, JSON.stringify({ type: "say", text: "x" }));
    assert.deepEqual(stranger.sent, []);
    assert.deepEqual(a.take(), []);
    assert.equal(room.leave(stranger), false);
  });
});

describe("Room: limits", () => {
  test("burst of 10, then rate_limited with retryAfterMs; typing takes no token", () => {
    const { room, join, send, clock } = setup();
    const a = join();
    const b = join();
    a.take();
    b.take();
    send(a, { type: "typing" });
    for (let i = 0; i < 9; i++) send(a, { type: "say", text: `m${i}` });
    for (let i = 0; i < 5; i++) send(a, { type: "typing" });
    send(a, { type: "ping" });
    assert.equal(a.take().filter((f) => f.type === "error").length, 0);
    b.take();

    send(a, { type: "say", text: "one too many", ref: "r11" });
    assert.deepEqual(a.take(), [
      { type: "error", code: "rate_limited", message: "slow down", ref: "r11", retryAfterMs: 500 },
    ]);
    assert.deepEqual(b.take(), []);
    assert.equal(room.info().seq, 9);

    clock.now = T0 + 500;
    send(a, { type: "say", text: "later" });
    assert.deepEqual(seqs(a.take()), [10]);
  });

  test("rejected frames take no token", () => {
    const { join, room } = setup();
    const a = join();
    a.take();
    for (let i = 0; i < 20; i++) room.receive(a, "not json");
    a.take();
    for (let i = 0; i < 10; i++) room.receive(a, JSON.stringify({ type: "say", text: `m${i}` }));
    assert.deepEqual(seqs(a.take()), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  test("more than maxStrikes rejected frames close 1008", () => {
    const { join, room } = setup();
    const a = join();
    a.take();
    for (let i = 0; i < 30; i++) room.receive(a, "not json");
    assert.equal(a.take().length, 30);
    assert.deepEqual(closeCodes(a), []);
    room.receive(a, "not json");
    assert.equal(a.take()[0].type, "error");
    assert.deepEqual(closeCodes(a), [1008]);
  });

  test("rate_limited counts as a strike", () => {
    const { join, send } = setup({ config: { maxStrikes: 2 } });
    const a = join();
    for (let i = 0; i < 10; i++) send(a, { type: "ping" });
    send(a, { type: "ping" });
    send(a, { type: "ping" });
    assert.deepEqual(closeCodes(a), []);
    send(a, { type: "ping" });
    assert.deepEqual(closeCodes(a), [1008]);
  });

  test("strikes older than the window are forgotten", () => {
    const { join, room, clock } = setup({ config: { maxStrikes: 2 } });
    const a = join();
    room.receive(a, "x");
    room.receive(a, "x");
    clock.now = T0 + 10_001;
    room.receive(a, "x");
    room.receive(a, "x");
    assert.deepEqual(closeCodes(a), []);
    room.receive(a, "x");
    assert.deepEqual(closeCodes(a), [1008]);
  });

  test("a binary frame closes 1003", () => {
    const { join, room } = setup();
    const a = join();
    const b = join();
    a.take();
    b.take();
    room.receive(a, new TextEncoder().encode('{"type":"ping"}').buffer);
    assert.deepEqual(closeCodes(a), [1003]);
    assert.deepEqual(a.take(), []);
    assert.deepEqual(b.take(), []);
  });

  test("a frame over maxFrameBytes in UTF-8 bytes closes 1009", () => {
    const { join, room } = setup({ config: { maxFrameBytes: 10_000, maxText: 10_000 } });
    const a = join();
    a.take();
    const frame = (n: number) => `{"type":"say","text":"${"é".repeat(n)}"}`;
    // 24 bytes of JSON around n two-byte characters.
    assert.equal(utf8Length(frame(4988)), 10_000);
    room.receive(a, frame(4988));
    assert.deepEqual(seqs(a.take()), [1], "exactly the limit is allowed");
    assert.deepEqual(closeCodes(a), []);

    room.receive(a, frame(6000));
    assert.equal(frame(6000).length < 10_000, true, "under the limit in characters");
    assert.deepEqual(a.closed, [{ code: 1009, reason: "frame too big" }]);
    assert.deepEqual(a.take(), []);
  });

  test("a slow reader is closed 1013 slow_reader after a send", () => {
    const { join, send, config } = setup();
    const a = join();
    const b = join();
    const c = join();
    a.take();
    b.take();
    c.take();
    b.buffered = config.maxQueueBytes + 1;
    c.buffered = config.maxQueueBytes;
    send(a, { type: "say", text: "hi" });
    assert.deepEqual(seqs(b.take()), [1]);
    assert.deepEqual(b.closed, [{ code: 1013, reason: "slow_reader" }]);
    assert.deepEqual(closeCodes(c), [], "exactly the limit is not over it");
    assert.deepEqual(closeCodes(a), []);
  });

  test("a store that fails to append: error internal, nothing broadcast, seq unchanged", (t) => {
    const { room, join, send, store } = setup();
    const [a, b] = twoMembers(join);
    const restore = failCommits(store);
    const logged: string[] = [];
    setupLogging("error", "json", (line) => logged.push(line));
    t.after(() => setupLogging("info", "json", () => {}));
    send(a, { type: "say", text: "lost", ref: "r1" });
    assert.deepEqual(
      logged.map((l) => JSON.parse(l).event),
      ["commit_failed"],
    );
    const frames = a.take();
    assert.equal(frames.length, 1);
    assert.equal(frames[0].type === "error" && frames[0].code, "internal");
    assert.equal(frames[0].type === "error" && frames[0].ref, "r1");
    assert.deepEqual(b.take(), []);
    assert.equal(room.info().seq, 0);
    assert.deepEqual(closeCodes(a), []);

    restore();
    send(a, { type: "say", text: "kept" });
    assert.deepEqual(seqs(b.take()), [1], "no gap after a failed commit");
  });
});

describe("Room: native publish (Bun)", () => {
  /** A host's publish: delivers to the subscribed fakes, as Bun's server.publish does. */
  const host = () => {
    const topics = new Map<string, FakeConn[]>();
    const published: string[] = [];
    const publish: Publish = (topic, frame) => {
      published.push(topic);
      for (const c of topics.get(topic) ?? []) c.send(frame);
    };
    const subscribing = (conn: FakeConn) =>
      Object.assign(conn, {
        subscribe: (topic: string) => topics.set(topic, [...(topics.get(topic) ?? []), conn]),
      });
    return { publish, published, subscribing };
  };

  test("a frame for everyone is one publish; one that skips a user is a send loop", () => {
    const h = host();
    const { join, send } = setup({ publish: h.publish });
    const a = join({}, h.subscribing(new FakeConn()));
    const b = join({}, h.subscribing(new FakeConn()));
    assert.deepEqual(h.published, [], "joined skips the joiner: sent one by one");
    assert.deepEqual(
      a.take().map((f) => f.type),
      ["welcome", "joined"],
    );
    b.take();
    send(a, { type: "say", text: "hi", ref: "1" });
    assert.deepEqual(h.published, [ROOM]);
    assert.deepEqual(seqs(b.take()), [1]);
    assert.deepEqual(seqs(a.take()), [1, "ack"]);
  });

  test("after a publish, a member whose queue was over the limit before it is closed 1013", () => {
    const h = host();
    const { join, send, config } = setup({ publish: h.publish });
    const a = join({}, h.subscribing(new FakeConn()));
    const b = join({}, h.subscribing(new FakeConn()));
    const c = join({}, h.subscribing(new FakeConn()));
    const frame = JSON.stringify({ type: "message", seq: 1, ts: T0, from: a.user, text: "hi" });
    // The queue as the runtime reports it after the publish: what waited before, plus this frame.
    b.buffered = config.maxQueueBytes + 1 + utf8Length(frame);
    c.buffered = config.maxQueueBytes + utf8Length(frame);
    send(a, { type: "say", text: "hi" });
    assert.deepEqual(seqs(b.take()).slice(-1), [1], "the slow reader still got the frame");
    assert.deepEqual(b.closed, [{ code: 1013, reason: "slow_reader" }]);
    assert.deepEqual(closeCodes(c), [], "exactly the limit before the frame is not over it");
    assert.deepEqual(closeCodes(a), []);
  });
});

/**
 * A connection whose close runs its leave, as Bun runs the close handler inside `close()`: the Bun
 * adapter defers that close to the end of the turn (src/adapter/bun/index.ts), and so does this one.
 */
class BunConn extends FakeConn {
  private closing = false;
  constructor(private readonly leave: (conn: FakeConn) => void) {
    super();
  }
  override send(frame: string) {
    if (!this.closing) super.send(frame);
  }
  override close(code: number, reason: string) {
    if (this.closing) return;
    this.closing = true;
    super.close(code, reason);
    queueMicrotask(() => this.leave(this));
  }
}

const endOfTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("Room: a member whose close runs its leave (Bun, close deferred by the adapter)", () => {
  for (const native of [false, true]) {
    test(`a left caused by a commit's fan-out comes after the sender's ack${native ? " (native publish)" : ""}`, async () => {
      const subscribe = () => {};
      let room: Room | undefined;
      const publish: Publish | undefined = native
        ? (_topic, frame) => {
            for (const c of members) c.send(frame);
          }
        : undefined;
      const members: FakeConn[] = [];
      const s = setup({ publish });
      room = s.room;
      const conn = () => {
        const c = Object.assign(new BunConn((x) => room?.leave(x)), { subscribe });
        members.push(c);
        return c;
      };
      const a = s.join({}, conn());
      const slow = s.join({}, conn());
      a.take();
      slow.buffered = s.config.maxQueueBytes * 4;
      s.send(a, { type: "say", text: "hi", ref: "1" });
      await endOfTurn();
      assert.deepEqual(slow.closed, [{ code: 1013, reason: "slow_reader" }]);
      assert.deepEqual(
        a.take().map((f) => f.type),
        ["message", "ack", "left"],
      );
    });
  }

  test("a join whose commit closes the room's last member still lands in a listed room", async () => {
    const queue: (() => void)[] = [];
    const store = newStore();
    const rooms = new Rooms(store, { ...loadConfig({}) }, { defer: (fn) => void queue.push(fn) });
    const y = new BunConn((c) => rooms.leave(c));
    rooms.join("r", y, { group: "1.1.1.1" });
    rooms.receive(y, JSON.stringify({ type: "say", text: "pending" }));
    y.buffered = loadConfig({}).maxQueueBytes + 1;
    const z = new FakeConn();
    rooms.join("r", z, { group: "2.2.2.2" });
    await endOfTurn();
    assert.deepEqual(y.closed, [{ code: 1013, reason: "slow_reader" }]);
    assert.equal(rooms.active, 1);
    assert.deepEqual(
      rooms.info("r").members.map((m) => m.id),
      [z.user.id],
    );
    rooms.receive(z, JSON.stringify({ type: "ping", ref: "p" }));
    assert.deepEqual(z.take().at(-1), { type: "pong", ref: "p" });
    rooms.leave(z);
    assert.equal(rooms.connectionsFrom("2.2.2.2"), 0, "the newcomer's leave is counted");
  });
});

describe("Room: group commit", () => {
  /** A defer that holds its callbacks until the test runs them, like the end of a loop turn. */
  const held = () => {
    const queue: (() => void)[] = [];
    const defer: Defer = (fn) => void queue.push(fn);
    const turnEnds = () => {
      for (const fn of queue.splice(0)) fn();
    };
    return { queue, defer, turnEnds };
  };

  test("says of one turn share one commit, and nobody sees them before it", () => {
    const turn = held();
    const { join, send, store, room } = setup({ defer: turn.defer });
    const a = join();
    const b = join();
    a.take();
    b.take();
    const commits: number[] = [];
    const appendAll = store.appendAll.bind(store);
    store.appendAll = (r, messages, keep) => {
      commits.push(messages.length);
      appendAll(r, messages, keep);
    };
    send(a, { type: "say", text: "one", ref: "1" });
    send(b, { type: "say", text: "two" });
    send(a, { type: "say", text: "three", ref: "3" });
    assert.equal(turn.queue.length, 1, "one commit scheduled for the turn");
    assert.deepEqual(b.take(), [], "nothing sent before the commit");
    assert.equal(store.history(ROOM, 10).messages.length, 0);
    assert.equal(room.info().seq, 3, "reading the room commits first");
    turn.turnEnds();
    assert.deepEqual(commits, [3]);
    assert.deepEqual(seqs(b.take()), [1, 2, 3]);
    assert.deepEqual(
      a.take().map((f) => (f.type === "ack" && "seq" in f ? `ack ${f.ref} ${f.seq}` : seqs([f])[0])),
      [1, "ack 1 1", 2, 3, "ack 3 3"],
    );
    assert.deepEqual(
      store.history(ROOM, 10).messages.map((m) => m.text),
      ["one", "two", "three"],
    );
  });

  test("any other frame, a join or a leave first sends the says before it, in order", () => {
    const turn = held();
    const { join, send, room } = setup({ defer: turn.defer });
    const a = join({ name: "ann" });
    const b = join();
    a.take();
    b.take();
    send(a, { type: "say", text: "before rename" });
    send(a, { type: "rename", name: "anna" });
    assert.deepEqual(
      b.take().map((f) => f.type),
      ["message", "renamed"],
    );
    a.take();
    send(a, { type: "say", text: "before join" });
    const c = join();
    assert.equal(c.welcome.seq, 2, "the welcome counts the say before it");
    assert.deepEqual(
      c.welcome.messages.map((m) => m.type === "message" && m.text),
      ["before rename", "before join"],
    );
    assert.deepEqual(seqs(c.take()).slice(1), [], "and does not get it again");
    send(b, { type: "say", text: "before leave" });
    room.leave(b);
    assert.deepEqual(
      a.take().map((f) => f.type),
      ["message", "joined", "message", "left"],
    );
    turn.turnEnds();
    assert.deepEqual(a.take(), [], "the scheduled commit finds nothing left to do");
  });

  test("a binary frame after a say lets the say go out before its close", () => {
    const turn = held();
    const { join, send, room } = setup({ defer: turn.defer });
    const [a, b] = twoMembers(join);
    send(a, { type: "say", text: "first", ref: "1" });
    room.receive(a, new Uint8Array([1]));
    assert.deepEqual(
      a.take().map((f) => f.type),
      ["message", "ack"],
    );
    assert.deepEqual(closeCodes(a), [1003]);
    assert.deepEqual(seqs(b.take()), [1]);
  });

  test("a failed group commit answers every say in it with internal, and the next batch has no gap", (t) => {
    const turn = held();
    const { join, send, store, room } = setup({ defer: turn.defer });
    const [a, b] = twoMembers(join);
    const restore = failCommits(store);
    t.mock.method(console, "error", () => {});
    send(a, { type: "say", text: "x", ref: "r1" });
    send(b, { type: "say", text: "y", ref: "r2" });
    turn.turnEnds();
    assert.deepEqual(
      [...a.take(), ...b.take()].map((f) => f.type === "error" && `${f.code} ${f.ref}`),
      ["internal r1", "internal r2"],
    );
    assert.equal(room.info().seq, 0);
    restore();
    send(a, { type: "say", text: "kept" });
    turn.turnEnds();
    assert.deepEqual(seqs(b.take()), [1]);
  });
});

describe("Room: resume", () => {
  const resumeSetup = (prefill: number, historyLimit = 10_000) => {
    const s = setup({ prefill, config: { historyLimit } });
    return { ...s, epoch: s.store.meta(ROOM).epoch };
  };
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

  test("a fresh join gets the last 50, resumed false", () => {
    const { join } = resumeSetup(120);
    const w = join().welcome;
    assert.equal(w.resumed, false);
    assert.equal(w.seq, 120);
    assert.deepEqual(seqs(w.messages), range(71, 120));
  });

  test("since and epoch within the window replay exactly the messages after since", () => {
    const { join, epoch } = resumeSetup(120);
    let w = join({ since: 117, epoch }).welcome;
    assert.equal(w.resumed, true);
    assert.deepEqual(w.messages, [message(118), message(119), message(120)]);
    w = join({ since: 120, epoch }).welcome;
    assert.deepEqual([w.resumed, w.messages], [true, []]);
    w = join({ since: 20, epoch }).welcome;
    assert.equal(w.resumed, true, "exactly 100 behind");
    assert.deepEqual(seqs(w.messages), range(21, 120));
  });

  test("an empty room resumes from 0", () => {
    const { join, epoch } = resumeSetup(0);
    const w = join({ since: 0, epoch }).welcome;
    assert.deepEqual([w.resumed, w.messages, w.seq], [true, [], 0]);
  });

  test("a wrong epoch gets the last 50, resumed false", () => {
    const { join } = resumeSetup(120);
    const w = join({ since: 117, epoch: "0123456789abcdef" }).welcome;
    assert.equal(w.resumed, false);
    assert.deepEqual(seqs(w.messages), range(71, 120));
  });

  test("since without epoch is not a resume", () => {
    const { join } = resumeSetup(60);
    const w = join({ since: 59 }).welcome;
    assert.equal(w.resumed, false);
    assert.deepEqual(seqs(w.messages), range(11, 60));
  });

  test("more than 100 behind gets the last 50, resumed false", () => {
    const { join, epoch } = resumeSetup(120);
    const w = join({ since: 19, epoch }).welcome;
    assert.equal(w.resumed, false);
    assert.deepEqual(seqs(w.messages), range(71, 120));
  });

  test("since ahead of the room is not a resume", () => {
    const { join, epoch } = resumeSetup(10);
    const w = join({ since: 11, epoch }).welcome;
    assert.equal(w.resumed, false);
    assert.deepEqual(seqs(w.messages), range(1, 10));
  });

  test("since before the pruned history gets the last 50, resumed false", () => {
    // History keeps 71..150.
    const { join, epoch, store } = resumeSetup(150, 80);
    assert.equal(store.oldestSeq(ROOM), 71);
    let w = join({ since: 69, epoch }).welcome;
    assert.equal(w.resumed, false);
    assert.deepEqual(seqs(w.messages), range(101, 150));
    w = join({ since: 70, epoch }).welcome;
    assert.equal(w.resumed, true, "every message after 70 is still kept");
    assert.deepEqual(seqs(w.messages), range(71, 150));
  });

  test("a resumed connection then gets every later message live", () => {
    const { join, send, epoch } = resumeSetup(5);
    const a = join({ since: 3, epoch });
    const b = join();
    a.take();
    send(b, { type: "say", text: "next" });
    assert.deepEqual(seqs(a.take()), [6]);
  });
});

describe("Room: restore", () => {
  test("rebuilds membership from the records alone, sending nothing", () => {
    const { join, store, config, clock } = setup();
    const a1 = join({ name: "ann" });
    const a2 = join({ token: a1.welcome.token });
    const b = join({ name: "bob" });
    const conns = [a1, a2, b];
    for (const c of conns) c.take();

    // A new engine over the same store, as a woken Durable Object would build.
    const woken = new Room(ROOM, { store, config, now: () => clock.now });
    for (const c of conns) woken.restore(c);
    woken.restore(new FakeConn());
    for (const c of conns) assert.deepEqual(c.sent, []);
    assert.equal(woken.size, 3);
    assert.deepEqual(woken.info().members, [
      { id: "1", name: "ann" },
      { id: "2", name: "bob" },
    ]);

    woken.receive(b, JSON.stringify({ type: "say", text: "back" }));
    for (const c of conns) assert.deepEqual(seqs(c.take()), [1]);
    woken.leave(a1);
    assert.deepEqual(b.take(), []);
    woken.leave(a2);
    assert.deepEqual(b.take(), [{ type: "left", user: { id: "1", name: "ann" } }]);
  });
});

describe("Rooms", () => {
  function host(over: Partial<Config> = {}) {
    const store = newStore();
    return { store, rooms: new Rooms(store, { ...loadConfig({}), ...over }) };
  }

  test("counts connections per address, up and down", () => {
    const { rooms } = host();
    const c1 = new FakeConn();
    const c2 = new FakeConn();
    const c3 = new FakeConn();
    rooms.join("r1", c1, { group: "1.1.1.1" });
    rooms.join("r2", c2, { group: "1.1.1.1" });
    rooms.join("r1", c3, { group: "2.2.2.2" });
    assert.equal(rooms.connectionsFrom("1.1.1.1"), 2);
    assert.equal(rooms.connectionsFrom("2.2.2.2"), 1);
    assert.equal(rooms.connectionsFrom("3.3.3.3"), 0);
    rooms.leave(c1);
    assert.equal(rooms.connectionsFrom("1.1.1.1"), 1);
    rooms.leave(c1);
    assert.equal(rooms.connectionsFrom("1.1.1.1"), 1, "a second leave does not count down again");
    rooms.leave(c2);
    rooms.leave(c3);
    assert.equal(rooms.connectionsFrom("1.1.1.1"), 0);
    assert.equal(rooms.connectionsFrom("2.2.2.2"), 0);
  });

  test("a refused join (room full) is not counted", () => {
    const { rooms } = host({ maxMembers: 1 });
    rooms.join("r", new FakeConn(), { group: "1.1.1.1" });
    const refused = new FakeConn();
    rooms.join("r", refused, { group: "1.1.1.1" });
    assert.deepEqual(refused.closed, [{ code: 1013, reason: "room_full" }]);
    assert.equal(rooms.connectionsFrom("1.1.1.1"), 1);
  });

  test("a room leaves memory with its last member and keeps its state in the store", () => {
    const { rooms } = host();
    assert.equal(rooms.active, 0);
    const a = new FakeConn();
    const b = new FakeConn();
    const c = new FakeConn();
    rooms.join("r1", a, { group: "1.1.1.1", name: "ann" });
    rooms.join("r1", b, { group: "1.1.1.1" });
    rooms.join("r2", c, { group: "1.1.1.1" });
    assert.equal(rooms.active, 2);
    rooms.receive(a, JSON.stringify({ type: "say", text: "kept" }));
    const epoch = a.welcome.epoch;
    rooms.leave(a);
    assert.equal(rooms.active, 2);
    rooms.leave(b);
    assert.equal(rooms.active, 1);
    assert.deepEqual(rooms.info("r1"), { room: "r1", epoch, seq: 1, members: [] });

    const back = new FakeConn();
    rooms.join("r1", back, { group: "1.1.1.1", token: a.welcome.token });
    assert.deepEqual([back.welcome.epoch, back.welcome.seq, back.user], [epoch, 1, { id: "1", name: "ann" }]);
    assert.deepEqual(seqs(back.welcome.messages), [1]);
  });

  test("receive routes a frame to the connection's room", () => {
    const { rooms } = host();
    const a = new FakeConn();
    const other = new FakeConn();
    rooms.join("r1", a, { group: "1.1.1.1" });
    rooms.join("r2", other, { group: "1.1.1.1" });
    a.take();
    other.take();
    rooms.receive(a, JSON.stringify({ type: "say", text: "x" }));
    assert.deepEqual(seqs(a.take()), [1]);
    assert.deepEqual(other.take(), []);
    assert.equal(rooms.info("r1").seq, 1);
    assert.equal(rooms.info("r2").seq, 0);
  });

  test("info of an unused room: seq 0 and no members; of a used one, its members", () => {
    const { rooms } = host();
    const info = rooms.info("never-used");
    assert.deepEqual(info, { room: "never-used", epoch: info.epoch, seq: 0, members: [] });
    assert.equal(typeof info.epoch, "string");
    assert.equal(rooms.info("never-used").epoch, info.epoch, "the epoch is stable");
    rooms.join("used", new FakeConn(), { group: "1.1.1.1", name: "ann" });
    assert.deepEqual(rooms.info("used").members, [{ id: "1", name: "ann" }]);
  });

  test("page reads the store", () => {
    const { rooms, store } = host();
    store.meta("r");
    for (let seq = 1; seq <= 3; seq++) store.append("r", message(seq), 100);
    assert.deepEqual(rooms.history("r", 2), { messages: [message(2), message(3)], more: true });
    assert.deepEqual(rooms.history("r", 2, 2), { messages: [message(1)], more: false });
  });

  test("shutdown closes every connection in every room with 1001", () => {
    const { rooms } = host();
    const conns = [new FakeConn(), new FakeConn(), new FakeConn()];
    rooms.join("r1", conns[0], { group: "1.1.1.1" });
    rooms.join("r1", conns[1], { group: "1.1.1.1" });
    rooms.join("r2", conns[2], { group: "2.2.2.2" });
    rooms.shutdown();
    for (const c of conns) assert.deepEqual(closeCodes(c), [1001]);
  });
});
