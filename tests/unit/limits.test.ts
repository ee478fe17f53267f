/**
 * PROTOCOL-v2 section 5 at the unit level: address groups, buckets and slots, the text and name rules,
 * the frame budget and the per-group member cap in a room, byte-capped pages, reads that write nothing,
 * guests forgotten after their TTL, and the HTTP checks (Host, proxies, CORS, Retry-After).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import Database from "better-sqlite3";
import { defineWebSocketHelper } from "hono/ws";
import { createApp, createEdgeApp } from "../../src/app.ts";
import { type Config, type Env, loadConfig } from "../../src/config.ts";
import { AddressSlots, addressGroup, KeyedLimiter, takeFrom } from "../../src/limits.ts";
import {
  checkName,
  type Message,
  PAGE_MAX_BYTES,
  parseClientFrame,
  type ServerFrame,
} from "../../src/protocol/index.ts";
import { Room } from "../../src/room.ts";
import { Rooms } from "../../src/rooms.ts";
import { statementDriver } from "../../src/store/statements.ts";
import { SqlStore } from "../../src/store/store.ts";
import { FakeConnection } from "../helpers/fake-connection.ts";

const T0 = 1_700_000_000_000;

/** A socket stand-in whose `frames` are the ones not yet taken. */
class Fake extends FakeConnection {
  get frames(): ServerFrame[] {
    return this.sent;
  }
}

function roomWith(over: Partial<Config> = {}) {
  const db = new Database(":memory:");
  const store = new SqlStore(statementDriver(db));
  const clock = { now: T0 };
  const config = { ...loadConfig({}), ...over };
  const room = new Room("r", { store, config, now: () => clock.now });
  let cid = 0;
  const join = (group = "10.0.0.1", token?: string) => {
    const c = new Fake();
    room.join(c, { group, token }, `c${++cid}`);
    return c;
  };
  return { db, store, room, clock, config, join };
}

describe("address groups", () => {
  test("IPv4 as it is, IPv4-mapped IPv6 as IPv4, IPv6 by its /64", () => {
    assert.equal(addressGroup("203.0.113.7"), "203.0.113.7");
    assert.equal(addressGroup("::ffff:203.0.113.7"), "203.0.113.7");
    assert.equal(addressGroup("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
    assert.equal(addressGroup("2001:0db8:0001:0002:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
    assert.equal(addressGroup("[2001:db8:1:2::9]"), "2001:db8:1:2::/64");
    assert.equal(addressGroup("2001:db8::1"), "2001:db8:0:0::/64");
    assert.equal(addressGroup("::1"), "0:0:0:0::/64");
    assert.notEqual(addressGroup("2001:db8:1:3::1"), addressGroup("2001:db8:1:2::1"));
  });
});

describe("buckets and slots", () => {
  test("takeFrom allows the burst, then says how long until the next token", () => {
    const b = { tokens: 3, at: T0 };
    for (let i = 0; i < 3; i++) assert.equal(takeFrom(b, T0, 3, 2), 0);
    assert.equal(takeFrom(b, T0, 3, 2), 500);
    assert.equal(takeFrom(b, T0 + 500, 3, 2), 0);
  });

  test("a keyed limiter keeps one bucket per key and drops the full ones", () => {
    const limiter = new KeyedLimiter(2, 1);
    assert.equal(limiter.take("a", T0), 0);
    assert.equal(limiter.take("a", T0), 0);
    assert.ok(limiter.take("a", T0) > 0);
    assert.equal(limiter.take("b", T0), 0, "another key has its own bucket");
    assert.equal(limiter.size, 2);
    assert.equal(limiter.take("c", T0 + 120_000), 0);
    assert.equal(limiter.size, 1, "buckets that refilled are forgotten");
  });

  test("slots count at the check; a refused or unclaimed one comes back", async () => {
    const slots = new AddressSlots(20);
    const a = slots.take("g", 2);
    const b = slots.take("g", 2);
    assert.ok(a && b);
    assert.equal(slots.take("g", 2), undefined, "the third is over the cap before any socket opened");
    a.claim();
    b.release();
    assert.equal(slots.count("g"), 1);
    const c = slots.take("g", 2);
    assert.ok(c);
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(slots.count("g"), 1, "a slot never claimed is given back");
    slots.free("g");
    assert.equal(slots.count("g"), 0);
  });
});

describe("text and names", () => {
  test("message text refuses C0 and C1 controls but tab, line feed and carriage return", () => {
    for (const c of ["\u0000", "\u0001", "\u0008", "\u000b", "\u001b", "\u007f", "\u0085", "\u009f"]) {
      const r = parseClientFrame(JSON.stringify({ type: "say", text: `a${c}b`, ref: "r" }));
      assert.equal(r.ok, false, `U+${c.charCodeAt(0).toString(16)}`);
      if (!r.ok) assert.deepEqual([r.code, r.ref], ["bad_frame", "r"]);
    }
    assert.equal(parseClientFrame(JSON.stringify({ type: "say", text: "a\tb\nc\r\nd" })).ok, true);
  });

  test("names refuse bidirectional overrides, isolates and zero-width characters, and are stored NFC", () => {
    for (const c of ["\u202a", "\u202e", "\u2066", "\u2069", "\u200b", "\u200d", "\u200f", "\u2060", "\ufeff"]) {
      const r = checkName(`a${c}b`);
      assert.equal(r.ok, false, `U+${c.charCodeAt(0).toString(16)}`);
      if (!r.ok) assert.equal(r.rule, "invisible");
    }
    assert.deepEqual(checkName("Zoe\u0308"), { ok: true, name: "Zoë" });
    const r = parseClientFrame(JSON.stringify({ type: "rename", name: "a\u202eb" }));
    assert.equal(r.ok ? "ok" : r.code, "bad_name");
  });
});

describe("the frame budget", () => {
  test("every frame takes from it, typing included; past it, dropped, struck, answered once a second", () => {
    const { room, join, config } = roomWith({ frameBurst: 5, framePerSec: 1, maxStrikes: 3 });
    const a = join();
    a.frames.length = 0;
    for (let i = 0; i < 5; i++) room.receive(a, '{"type":"typing"}');
    assert.equal(a.frames.length, 0, "within the budget typing is silent");
    room.receive(a, '{"type":"typing"}');
    room.receive(a, '{"type":"ping","ref":"p"}');
    assert.deepEqual(
      a.frames.map((f) => f.type === "error" && [f.code, f.retryAfterMs]),
      [["rate_limited", 1000]],
      "one answer, not one per dropped frame",
    );
    assert.equal(a.record?.strikes, 2);
    room.receive(a, '{"type":"typing"}');
    room.receive(a, '{"type":"typing"}');
    assert.deepEqual(a.closed, [{ code: 1008, reason: "too many rejected frames" }]);
    assert.equal(config.frameBurst, 5);
  });

  test("the budget refills: a paced client is never refused", () => {
    const { room, join, clock } = roomWith({ frameBurst: 2, framePerSec: 10, rateBurst: 1000, ratePerSec: 1000 });
    const a = join();
    a.frames.length = 0;
    for (let i = 0; i < 50; i++) {
      clock.now += 100;
      room.receive(a, `{"type":"ping","ref":"${i}"}`);
    }
    assert.equal(a.frames.filter((f) => f.type === "pong").length, 50);
  });
});

describe("anonymous members per address group", () => {
  test("past the cap a group gets 1013 room_full; another group, and a second tab, still join", () => {
    const { room, join } = roomWith({ maxMembersPerIp: 2 });
    const a = join("10.0.0.1");
    join("10.0.0.1");
    const third = join("10.0.0.1");
    assert.deepEqual(third.closed, [{ code: 1013, reason: "room_full" }]);
    assert.deepEqual(join("10.0.0.2").closed, []);
    const tab = join("10.0.0.1", a.record?.token);
    assert.deepEqual(tab.closed, [], "a user already here from the group may open another tab");
    room.leave(a);
    room.leave(tab);
    assert.deepEqual(join("10.0.0.1").closed, [], "a leave frees the group's place");
  });
});

const bigMessage = (seq: number, text: string): Message => ({
  type: "message",
  seq,
  ts: T0,
  from: { id: "1", name: "ann" },
  text,
});

describe("pages capped in bytes", () => {
  test("a history page stops at 256 KiB at its oldest end and says more", () => {
    const { store, room, join } = roomWith();
    store.meta("r");
    const text = "x".repeat(20_000);
    for (let seq = 1; seq <= 40; seq++) store.append("r", bigMessage(seq, text), 10_000);
    const page = store.history("r", 100, undefined, PAGE_MAX_BYTES);
    assert.equal(page.more, true);
    assert.ok(page.messages.length < 40 && page.messages.length > 5);
    assert.equal(page.messages.at(-1)?.seq, 40, "the newest are kept");
    assert.ok(Buffer.byteLength(JSON.stringify(page)) <= PAGE_MAX_BYTES);

    const a = join();
    const welcome = a.frames[0];
    assert.equal(welcome.type, "welcome");
    assert.ok(Buffer.byteLength(JSON.stringify(welcome)) <= PAGE_MAX_BYTES);
    if (welcome.type === "welcome") assert.equal(welcome.more, true, "a cut welcome says so");
    a.frames.length = 0;
    room.receive(a, JSON.stringify({ type: "history", before: 41, limit: 100, ref: "h" }));
    const reply = a.frames[0];
    assert.equal(reply.type, "history");
    assert.ok(Buffer.byteLength(JSON.stringify(reply)) <= PAGE_MAX_BYTES);
    if (reply.type === "history") assert.equal(reply.more, true);
  });

  test("a resume that would not fit is answered as a failed one", () => {
    const { store, room } = roomWith();
    const epoch = store.meta("r").epoch;
    for (let seq = 1; seq <= 40; seq++) store.append("r", bigMessage(seq, "y".repeat(20_000)), 10_000);
    const c = new Fake();
    const woken = new Room("r", { store, config: loadConfig({}) });
    woken.join(c, { group: "g", since: 1, epoch }, "c1");
    const welcome = c.frames[0];
    assert.ok(welcome.type === "welcome" && welcome.resumed === false);
    assert.ok(Buffer.byteLength(JSON.stringify(welcome)) <= PAGE_MAX_BYTES);
    void room;
  });

  test("a small welcome and a small page are exactly as in v1", () => {
    const { join } = roomWith();
    const welcome = join().frames[0];
    assert.ok(welcome.type === "welcome" && !("more" in welcome));
  });
});

const tables = (db: Database.Database) =>
  db.prepare("SELECT (SELECT count(*) FROM rooms) AS rooms, (SELECT count(*) FROM users) AS users").get();

describe("storage grows only with entries", () => {
  test("reading a room writes nothing, and the epoch it reads is the one the room gets", () => {
    const db = new Database(":memory:");
    const store = new SqlStore(statementDriver(db));
    const rooms = new Rooms(store, loadConfig({}));
    const before = tables(db);
    const seen = rooms.info("never-joined");
    assert.deepEqual(rooms.history("never-joined", 50), { messages: [], more: false });
    assert.deepEqual(tables(db), before);
    const c = new Fake();
    rooms.join("never-joined", c, { group: "g" });
    assert.equal(c.frames[0].type === "welcome" && c.frames[0].epoch, seen.epoch);
  });

  test("a guest who never posted is forgotten after the TTL; one who posted is kept; ids never go back", () => {
    const db = new Database(":memory:");
    const store = new SqlStore(statementDriver(db));
    const config = { ...loadConfig({}), guestTtlMs: 1000 };
    const rooms = new Rooms(store, config);
    const guest = new Fake();
    const poster = new Fake();
    rooms.join("r", guest, { group: "g" });
    rooms.join("r", poster, { group: "g" });
    rooms.receive(poster, JSON.stringify({ type: "say", text: "hi" }));
    const token = guest.record?.token as string;
    rooms.leave(guest);
    rooms.leave(poster);
    assert.equal(rooms.forgetGuests(Date.now()), 0, "not before the TTL");
    assert.equal(rooms.forgetGuests(Date.now() + 1000), 1);
    assert.equal(store.userByToken("r", token), undefined);
    assert.ok(store.userByToken("r", poster.record?.token as string), "a poster stays");
    const again = new Fake();
    rooms.join("r", again, { group: "g", token });
    assert.equal(again.record?.uid, "3", "the forgotten token starts a new user; the counter went on");
  });

  test("a connected guest is never forgotten", () => {
    const db = new Database(":memory:");
    const store = new SqlStore(statementDriver(db));
    const rooms = new Rooms(store, { ...loadConfig({}), guestTtlMs: 1000 });
    const here = new Fake();
    rooms.join("r", here, { group: "g" });
    assert.equal(rooms.forgetGuests(Date.now() + 10_000), 0);
  });

  test("a v1 database gains the guest columns in place, and keeps its rooms, users and messages", () => {
    const db = new Database(":memory:");
    db.exec(`
      CREATE TABLE rooms (name TEXT PRIMARY KEY, epoch TEXT NOT NULL, seq INTEGER NOT NULL DEFAULT 0,
        last_user_id INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE messages (room TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL, user_id TEXT NOT NULL,
        user_name TEXT NOT NULL, text TEXT NOT NULL, ref TEXT, PRIMARY KEY (room, seq)) WITHOUT ROWID;
      CREATE TABLE users (room TEXT NOT NULL, token TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL,
        PRIMARY KEY (room, token)) WITHOUT ROWID;
      INSERT INTO rooms VALUES ('r', 'e1', 1, 2);
      INSERT INTO messages VALUES ('r', 1, 1, '1', 'ann', 'hello', NULL);
      INSERT INTO users VALUES ('r', 't1', '1', 'ann'), ('r', 't2', '2', 'bob');
    `);
    const store = new SqlStore(statementDriver(db), { now: () => T0 });
    assert.deepEqual(store.meta("r"), { epoch: "e1", seq: 1, lastUserId: 2 });
    assert.equal(store.userByToken("r", "t1")?.posted, true);
    assert.equal(store.userByToken("r", "t2")?.posted, false);
    assert.equal(store.forgetGuests(T0), 1, "the guest who never posted is away since the migration");
    assert.equal(store.after("r", 0)[0].text, "hello");
  });
});

describe("HTTP checks", () => {
  function app(env: Env) {
    const config = loadConfig(env);
    const rooms = new Rooms(new SqlStore(statementDriver(new Database(":memory:"))), config);
    const parley = createApp({
      upgradeWebSocket: defineWebSocketHelper(() => undefined),
      rooms,
      config,
      connection: () => {
        throw new Error("no sockets");
      },
      clientAddress: () => "192.0.2.1",
    });
    return (path: string, headers: Record<string, string> = {}, method = "GET") =>
      parley.request(`http://127.0.0.1:8787${path}`, { headers, method });
  }

  test("a loopback server answers only loopback or listed Host names, 403 before anything else", async () => {
    const get = app({});
    for (const host of ["localhost:8787", "127.0.0.1", "[::1]:8787", "LOCALHOST"]) {
      assert.equal((await get("/healthz", { host })).status, 200, host);
    }
    for (const host of ["evil.example", "evil.example:8787", "127.0.0.1.evil.example"]) {
      const res = await get("/rooms/bad.name/ws", { host });
      assert.equal(res.status, 403, host);
      assert.equal((await res.json()).error.code, "forbidden_host");
    }
    const listed = app({ PARLEY_ALLOWED_HOSTS: "chat.example.com" });
    assert.equal((await listed("/healthz", { host: "chat.example.com:443" })).status, 200);
    const elsewhere = app({ HOST: "0.0.0.0" });
    assert.equal(
      (await elsewhere("/healthz", { host: "anything.example" })).status,
      200,
      "only loopback checks by default",
    );
  });

  test("connect attempts past the burst get 429 with Retry-After, per address group", async () => {
    const get = app({ PARLEY_CONNECT_BURST: "3", PARLEY_CONNECT_PER_SEC: "0.5", PARLEY_TRUST_PROXY: "1" });
    const from = (ip: string) => ({ "x-forwarded-for": ip });
    assert.equal((await get("/rooms/bad.name/ws", from("198.51.100.1"))).status, 400, "a bad request takes one too");
    assert.equal((await get("/rooms/a/ws", from("198.51.100.1"))).status, 426);
    assert.equal((await get("/rooms/a/ws", from("198.51.100.1"))).status, 426);
    const refused = await get("/rooms/a/ws", from("198.51.100.1"));
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get("retry-after"), "2");
    assert.equal((await refused.json()).error.code, "too_many_attempts");
    assert.equal((await get("/rooms/a/ws", from("198.51.100.2"))).status, 426, "another group is not limited");
  });

  test("an allowed origin can read why a handshake was refused, and preflight a token", async () => {
    const get = app({ PARLEY_ALLOWED_ORIGINS: "https://app.example", PARLEY_MAX_CONNECTIONS_PER_IP: "1" });
    const origin = { origin: "https://app.example" };
    const res = await get("/rooms/bad.name/ws", origin);
    assert.equal(res.status, 400);
    assert.equal(res.headers.get("access-control-allow-origin"), "https://app.example");
    assert.match(res.headers.get("access-control-expose-headers") ?? "", /Retry-After/i);
    const read = await get("/api/rooms/lobby", origin);
    assert.equal(read.headers.get("access-control-allow-origin"), "https://app.example");
    const preflight = await get(
      "/api/rooms/lobby",
      { ...origin, "access-control-request-method": "GET", "access-control-request-headers": "authorization" },
      "OPTIONS",
    );
    assert.ok(preflight.status === 204 || preflight.status === 200);
    assert.match(preflight.headers.get("access-control-allow-headers") ?? "", /authorization/i);
    const foreign = await get("/api/rooms/lobby", { origin: "https://evil.example" });
    assert.equal(foreign.headers.get("access-control-allow-origin"), null);
  });

  test("the page's CSP connects to its own origin only", async () => {
    const res = await app({})("/");
    const csp = res.headers.get("content-security-policy") ?? "";
    assert.match(csp, /connect-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /ws:|wss:/);
  });
});

describe("the Workers edge", () => {
  function edge(env: Env, connectRate: (group: string) => Promise<number> = async () => 0) {
    const forwarded: string[] = [];
    const app = createEdgeApp({
      config: loadConfig(env),
      clientAddress: (c) => c.req.header("cf-connecting-ip") || undefined,
      connectRate,
      forward: async (room) => {
        forwarded.push(room);
        return new Response("{}", { status: 200 });
      },
    });
    const get = (path: string, headers: Record<string, string> = {}) =>
      app.request(`https://chat.example.com${path}`, { headers });
    return { get, forwarded };
  }

  test("a socket request without CF-Connecting-IP is refused, not pooled", async () => {
    const { get, forwarded } = edge({});
    const res = await get("/rooms/lobby/ws");
    assert.equal(res.status, 400);
    assert.equal((await res.json()).error.code, "no_client_address");
    assert.deepEqual(forwarded, []);
  });

  test("the connect rate is taken at the edge, per address group, before any room is asked", async () => {
    const asked: string[] = [];
    const { get, forwarded } = edge({}, async (group) => {
      asked.push(group);
      return group === "203.0.113.9" ? 3000 : 0;
    });
    const refused = await get("/rooms/lobby/ws", { "cf-connecting-ip": "203.0.113.9" });
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get("retry-after"), "3");
    assert.deepEqual(forwarded, [], "a refused request wakes no room");
    assert.equal((await get("/rooms/lobby/ws", { "cf-connecting-ip": "2001:db8:1:2::5" })).status, 200);
    assert.deepEqual(asked, ["203.0.113.9", "2001:db8:1:2::/64"]);
    assert.deepEqual(forwarded, ["lobby"]);
  });

  test("on Workers the Host is checked only when PARLEY_ALLOWED_HOSTS is set", async () => {
    assert.equal((await edge({}).get("/healthz", { host: "anything.example" })).status, 200);
    const listed = edge({ PARLEY_ALLOWED_HOSTS: "chat.example.com" });
    assert.equal((await listed.get("/healthz", { host: "chat.example.com" })).status, 200);
    assert.equal((await listed.get("/healthz", { host: "rebound.example" })).status, 403);
  });
});
