import assert from "node:assert/strict";
import { describe, test } from "node:test";
import Database from "better-sqlite3";
import { loadConfig } from "../../src/config.ts";
import { Room } from "../../src/room.ts";
import {
  type Connection,
  DURABLE_FIELDS,
  RECORD_FIELDS,
  type SessionRecord,
  type SocketOps,
  socketConnections,
  strike,
  takeToken,
  userOf,
} from "../../src/session.ts";
import { statementDriver } from "../../src/store/statements.ts";
import { SqlStore } from "../../src/store/store.ts";

const T0 = 1_700_000_000_000;

function record(over: Partial<SessionRecord> = {}): SessionRecord {
  return {
    cid: "1",
    room: "r",
    uid: "7",
    name: "ann",
    token: "t",
    group: "10.0.0.1",
    bucket: 10,
    bucketAt: T0,
    frames: 60,
    framesAt: T0,
    limitedAt: 0,
    v: 1,
    strikes: 0,
    strikesAt: 0,
    typingAt: 0,
    ...over,
  };
}

test("userOf takes the id and name of a record", () => {
  assert.deepEqual(userOf(record()), { id: "7", name: "ann" });
});

describe("takeToken", () => {
  const config = loadConfig({});

  test("a full bucket allows a burst, then refuses with the time until the next token", () => {
    const r = record({ bucket: config.rateBurst });
    for (let i = 0; i < config.rateBurst; i++) assert.equal(takeToken(r, T0, config), 0, `token ${i + 1}`);
    // 2 tokens per second: the next one is 500 ms away.
    assert.equal(takeToken(r, T0, config), 500);
    assert.equal(takeToken(r, T0 + 100, config), 400);
    assert.equal(r.bucketAt, T0 + 100);
  });

  test("refills at ratePerSec", () => {
    const r = record({ bucket: 0 });
    assert.equal(takeToken(r, T0 + 250, config), 250, "half a token: 250 ms short");
    assert.equal(takeToken(r, T0 + 500, config), 0);
    assert.ok(Math.abs(r.bucket) < 1e-9);
    assert.ok(takeToken(r, T0 + 500, config) > 0);
    // 2 s later there are 4 tokens, and no more.
    for (let i = 0; i < 4; i++) assert.equal(takeToken(r, T0 + 2500, config), 0);
    assert.ok(takeToken(r, T0 + 2500, config) > 0);
  });

  test("never holds more than the burst", () => {
    const r = record({ bucket: 0 });
    const later = T0 + 3_600_000;
    for (let i = 0; i < config.rateBurst; i++) assert.equal(takeToken(r, later, config), 0);
    assert.equal(takeToken(r, later, config), 500);
  });

  test("uses the configured rate and burst", () => {
    const slow = loadConfig({ PARLEY_RATE_BURST: "2", PARLEY_RATE_PER_SEC: "0.5" });
    const r = record({ bucket: slow.rateBurst });
    assert.equal(takeToken(r, T0, slow), 0);
    assert.equal(takeToken(r, T0, slow), 0);
    assert.equal(takeToken(r, T0, slow), 2000);
    assert.equal(takeToken(r, T0 + 2000, slow), 0);
  });

  test("a clock that goes backwards adds no tokens", () => {
    const r = record({ bucket: 0 });
    assert.ok(takeToken(r, T0 - 60_000, config) > 0);
    assert.equal(r.bucket, 0);
  });
});

describe("strike", () => {
  const config = loadConfig({ PARLEY_MAX_STRIKES: "3" });

  test("over the limit only when strikes exceed maxStrikes", () => {
    const r = record();
    assert.equal(strike(r, T0, config), false);
    assert.equal(strike(r, T0, config), false);
    assert.equal(strike(r, T0, config), false);
    assert.equal(r.strikes, 3);
    assert.equal(strike(r, T0, config), true);
    assert.equal(strike(r, T0 + 1, config), true);
  });

  test("the window opens at the first strike and resets after strikeWindowMs", () => {
    const r = record();
    strike(r, T0, config);
    assert.equal(r.strikesAt, T0);
    strike(r, T0 + 1000, config);
    strike(r, T0 + config.strikeWindowMs, config);
    assert.equal(r.strikes, 3, "still inside the window at exactly strikeWindowMs");
    assert.equal(strike(r, T0 + config.strikeWindowMs + 1, config), false);
    assert.equal(r.strikes, 1);
    assert.equal(r.strikesAt, T0 + config.strikeWindowMs + 1);
  });

  test("default limit: 30 strikes are fine, the 31st is over", () => {
    const defaults = loadConfig({});
    const r = record();
    for (let i = 0; i < 30; i++) assert.equal(strike(r, T0, defaults), false);
    assert.equal(strike(r, T0, defaults), true);
  });
});

describe("socketConnections", () => {
  function fakeOps() {
    const log = { sent: [] as string[], closed: [] as [number, string][], open: true, buffered: 0 };
    const ops: SocketOps<object> = {
      send: (_socket, frame) => void log.sent.push(frame),
      close: (_socket, code, reason) => void log.closed.push([code, reason]),
      bufferedAmount: () => log.buffered,
      isOpen: () => log.open,
    };
    return { log, ops, connectionOf: socketConnections(ops) };
  }

  test("the record is kept per socket object, across events", () => {
    const socket = {};
    const other = {};
    const { connectionOf } = fakeOps();
    const a = connectionOf(socket);
    assert.equal(a.load(), undefined);
    const r = record();
    a.save(r);
    assert.equal(connectionOf(socket).load(), r);
    assert.equal(connectionOf(other).load(), undefined);
    const r2 = record({ cid: "2" });
    connectionOf(socket).save(r2);
    assert.equal(a.load(), r2);
  });

  test("send, close and bufferedAmount go to the socket while it is open", () => {
    const { log, connectionOf } = fakeOps();
    const conn = connectionOf({});
    conn.send("a");
    conn.close(1000, "bye");
    log.buffered = 42;
    assert.deepEqual(log.sent, ["a"]);
    assert.deepEqual(log.closed, [[1000, "bye"]]);
    assert.equal(conn.bufferedAmount(), 42);
  });

  test("send and close are no-ops once the socket is not open", () => {
    const { log, connectionOf } = fakeOps();
    const conn = connectionOf({});
    log.open = false;
    conn.send("a");
    conn.close(1001, "x");
    assert.deepEqual(log.sent, []);
    assert.deepEqual(log.closed, []);
  });
});

describe("SessionRecord fields: each is classified for hibernation", () => {
  test("every field of a record the room writes is durable or transient in RECORD_FIELDS", () => {
    // A real join writes the record a Durable Object would attach; a field added to it without a line in
    // RECORD_FIELDS fails here, instead of being silently lost on Workers only.
    const store = new SqlStore(statementDriver(new Database(":memory:")));
    const room = new Room("r", { store, config: loadConfig({}) });
    let saved: SessionRecord | undefined;
    const conn: Connection = {
      send: () => {},
      close: () => {},
      bufferedAmount: () => 0,
      load: () => saved,
      save: (r) => {
        saved = r;
      },
    };
    // A signed moderator on v2: the record with every optional field set.
    room.join(conn, { group: "10.0.0.1", version: 2, identity: { sub: "ann", name: "Ann", role: "moderator" } }, "c1");
    room.receive(conn, JSON.stringify({ type: "say", text: "hi" }));
    assert.ok(saved);
    const unclassified = Object.keys(saved).filter((k) => !Object.hasOwn(RECORD_FIELDS, k));
    assert.deepEqual(unclassified, [], "classify these fields in RECORD_FIELDS (src/session.ts)");
    assert.deepEqual(
      Object.keys(RECORD_FIELDS).sort(),
      Object.keys(saved).sort(),
      "RECORD_FIELDS names no stale field",
    );
    const optional = ["sub", "role"];
    assert.deepEqual(
      Object.keys(record()).sort(),
      Object.keys(saved)
        .filter((k) => !optional.includes(k))
        .sort(),
      "this file's record() has every required field",
    );
  });

  test("the durable fields are the identity and the address; the per-frame state is transient", () => {
    assert.deepEqual([...DURABLE_FIELDS].sort(), ["cid", "group", "name", "role", "room", "sub", "token", "uid", "v"]);
  });
});
