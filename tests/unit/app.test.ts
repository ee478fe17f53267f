import assert from "node:assert/strict";
import { describe, test } from "node:test";
import Database from "better-sqlite3";
import { defineWebSocketHelper } from "hono/ws";
import { createApp, originAllowed, selectProtocol } from "../../src/app.ts";
import { type Env, loadConfig } from "../../src/config.ts";
import type { Message } from "../../src/protocol/index.ts";
import { Rooms } from "../../src/rooms.ts";
import type { Connection, SessionRecord } from "../../src/session.ts";
import { statementDriver } from "../../src/store/statements.ts";
import { SqlStore } from "../../src/store/store.ts";

const ADDRESS = "10.0.0.1";
const BASE = "http://localhost:8787";

function setup(env: Env = {}) {
  const config = loadConfig(env);
  const store = new SqlStore(statementDriver(new Database(":memory:")));
  const rooms = new Rooms(store, config);
  const logged: string[] = [];
  const app = createApp({
    // Never upgrades, so every request falls through to the plain-GET answer.
    upgradeWebSocket: defineWebSocketHelper(() => undefined),
    rooms,
    config,
    connection: () => {
      throw new Error("no sockets in these tests");
    },
    clientAddress: () => ADDRESS,
    log: (m) => void logged.push(m),
  });
  const get = (path: string, headers: Record<string, string> = {}) => app.request(`${BASE}${path}`, { headers });
  return { app, rooms, store, get, logged };
}

/** A connection that only keeps its record, to occupy a room and an address. */
function idleConnection(): Connection {
  let record: SessionRecord | undefined;
  return {
    send() {},
    close() {},
    bufferedAmount: () => 0,
    load: () => record,
    save: (r) => {
      record = r;
    },
  };
}

async function errorBody(res: Response, status: number) {
  assert.equal(res.status, status);
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
  const body = await res.json();
  assert.deepEqual(Object.keys(body), ["error"]);
  assert.deepEqual(Object.keys(body.error).sort(), ["code", "message"]);
  assert.equal(typeof body.error.code, "string");
  assert.equal(typeof body.error.message, "string");
  return body.error as { code: string; message: string };
}

const BAD_ROOMS = ["a".repeat(65), "a.b", "%2F", "a%20b", "%C3%A9"];

describe("pages and health", () => {
  test("GET / is the HTML page with a content security policy", async () => {
    const res = await setup().get("/");
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
    const csp = res.headers.get("content-security-policy") ?? "";
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(await res.text(), /<html/i);
  });

  test("GET /healthz", async () => {
    const res = await setup().get("/healthz");
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { ok: true });
  });

  test("an unknown path is a 404 JSON error", async () => {
    const { get, app } = setup();
    assert.equal((await errorBody(await get("/nope"), 404)).code, "not_found");
    await errorBody(await get("/api/rooms/a/b/c"), 404);
    await errorBody(await app.request(`${BASE}/healthz`, { method: "DELETE" }), 404);
  });

  test("a failing host is a 500 JSON error, and logged", async () => {
    const { get, rooms, logged } = setup();
    rooms.info = () => {
      throw new Error("store gone");
    };
    assert.equal((await errorBody(await get("/api/rooms/a"), 500)).code, "internal");
    assert.equal(logged.length, 1);
    assert.match(logged[0], /store gone/);
  });
});

describe("room API", () => {
  test("GET /api/rooms/:room of an unused room: seq 0, no members", async () => {
    const { get } = setup();
    const res = await get("/api/rooms/Lobby_1-x");
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.deepEqual(body, { room: "Lobby_1-x", epoch: body.epoch, seq: 0, members: [] });
    assert.equal(typeof body.epoch, "string");
    assert.equal((await (await get("/api/rooms/Lobby_1-x")).json()).epoch, body.epoch);
  });

  test("GET /api/rooms/:room lists the connected members", async () => {
    const { get, rooms } = setup();
    rooms.join("lobby", idleConnection(), { group: ADDRESS, name: "ann" });
    const body = await (await get("/api/rooms/lobby")).json();
    assert.deepEqual(body.members, [{ id: "1", name: "ann" }]);
  });

  test("room names are case-sensitive and up to 64 characters", async () => {
    const { get, rooms } = setup();
    rooms.join("abc", idleConnection(), { group: ADDRESS });
    assert.equal((await (await get("/api/rooms/ABC")).json()).members.length, 0);
    assert.equal((await get(`/api/rooms/${"a".repeat(64)}`)).status, 200);
  });

  test("bad room names are 400", async () => {
    const { get } = setup();
    for (const room of BAD_ROOMS) {
      assert.equal((await errorBody(await get(`/api/rooms/${room}`), 400)).code, "bad_room", room);
      await errorBody(await get(`/api/rooms/${room}/messages`), 400);
    }
  });

  test("messages: the newest page by default, then pages before a seq, oldest first", async () => {
    const { get, store } = setup();
    store.meta("r");
    const message = (seq: number): Message => ({
      type: "message",
      seq,
      ts: 1000 + seq,
      from: { id: "1", name: "ann" },
      text: `m${seq}`,
    });
    for (let seq = 1; seq <= 60; seq++) store.append("r", message(seq), 100);
    const page = async (query: string) => {
      const res = await get(`/api/rooms/r/messages${query}`);
      assert.equal(res.status, 200, query);
      const body = await res.json();
      return { seqs: body.messages.map((m: Message) => m.seq), more: body.more };
    };
    const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
    assert.deepEqual(await page(""), { seqs: range(11, 60), more: true });
    assert.deepEqual(await page("?limit=2"), { seqs: [59, 60], more: true });
    assert.deepEqual(await page("?before=4&limit=2"), { seqs: [2, 3], more: true });
    assert.deepEqual(await page("?before=3&limit=100"), { seqs: [1, 2], more: false });
    assert.deepEqual(await page("?before=0"), { seqs: [], more: false });
    assert.deepEqual(await page("?limit=100"), { seqs: range(1, 60), more: false });
    const [full] = (await (await get("/api/rooms/r/messages?limit=1")).json()).messages;
    assert.deepEqual(full, message(60));
    assert.deepEqual(await (await get("/api/rooms/empty/messages")).json(), { messages: [], more: false });
  });

  test("messages: bad query values are 400", async () => {
    const { get } = setup();
    for (const query of ["limit=abc", "limit=0", "limit=101", "limit=1.5", "limit=", "before=-1", "before=abc"]) {
      assert.equal((await errorBody(await get(`/api/rooms/r/messages?${query}`), 400)).code, "bad_query", query);
    }
  });

  test("POST /api/rooms makes a new unguessable room name", async () => {
    const { app } = setup();
    const make = async () => {
      const res = await app.request(`${BASE}/api/rooms`, { method: "POST" });
      assert.equal(res.status, 201);
      const body = await res.json();
      assert.deepEqual(Object.keys(body), ["room"]);
      assert.match(body.room, /^[0-9a-f]{32,}$/);
      return body.room as string;
    };
    assert.notEqual(await make(), await make());
  });
});

describe("GET /rooms/:room/ws", () => {
  const EVIL = { Origin: "https://evil.example", Host: "localhost:8787" };

  /** Fill the address's connection cap. */
  function capped(env: Env = {}) {
    const s = setup({ PARLEY_MAX_CONNECTIONS_PER_IP: "1", ...env });
    s.rooms.join("other", idleConnection(), { group: ADDRESS });
    return s;
  }

  test("a plain GET that passes every check is 426 JSON with Upgrade: websocket", async () => {
    const res = await setup().get("/rooms/lobby/ws", { Host: "localhost:8787" });
    assert.equal((await errorBody(res, 426)).code, "upgrade_required");
    assert.equal(res.headers.get("upgrade"), "websocket");
  });

  test("a bad room name is 400, before a bad origin", async () => {
    const { get } = capped();
    for (const room of BAD_ROOMS) {
      assert.equal((await errorBody(await get(`/rooms/${room}/ws`, EVIL), 400)).code, "bad_room", room);
    }
  });

  test("a bad origin is 403, before the address cap", async () => {
    const { get } = capped();
    assert.equal((await errorBody(await get("/rooms/lobby/ws", EVIL), 403)).code, "forbidden_origin");
  });

  test("the address cap is 429, before the upgrade check", async () => {
    const { get, rooms } = capped();
    assert.equal(rooms.connectionsFrom(ADDRESS), 1);
    assert.equal((await errorBody(await get("/rooms/lobby/ws"), 429)).code, "too_many_connections");
  });

  test("the cap counts from the configured limit, and 0 means no limit", async () => {
    const two = setup({ PARLEY_MAX_CONNECTIONS_PER_IP: "2" });
    two.rooms.join("a", idleConnection(), { group: ADDRESS });
    assert.equal((await two.get("/rooms/lobby/ws")).status, 426);
    two.rooms.join("a", idleConnection(), { group: ADDRESS });
    assert.equal((await two.get("/rooms/lobby/ws")).status, 429);

    const unlimited = setup({ PARLEY_MAX_CONNECTIONS_PER_IP: "0" });
    for (let i = 0; i < 5; i++) unlimited.rooms.join("a", idleConnection(), { group: ADDRESS });
    assert.equal((await unlimited.get("/rooms/lobby/ws")).status, 426);
  });

  test("X-Forwarded-For is the address only when PARLEY_TRUST_PROXY is set, counted from the right", async () => {
    // PROTOCOL-v2 section 5 changes v1's rule: the entry your own proxy appended (the N-th from the
    // right) is the address; what a client wrote to the left of it is ignored.
    const trusted = setup({ PARLEY_MAX_CONNECTIONS_PER_IP: "1", PARLEY_TRUST_PROXY: "1" });
    trusted.rooms.join("a", idleConnection(), { group: "192.0.2.7" });
    const forwarded = { "X-Forwarded-For": "10.0.0.1, 192.0.2.7" };
    assert.equal((await trusted.get("/rooms/lobby/ws", forwarded)).status, 429);
    assert.equal((await trusted.get("/rooms/lobby/ws", { "X-Forwarded-For": "192.0.2.8" })).status, 426);
    const forged = { "X-Forwarded-For": "192.0.2.7, 192.0.2.9" };
    assert.equal((await trusted.get("/rooms/lobby/ws", forged)).status, 426, "a forged left entry is not the address");

    const twoProxies = setup({ PARLEY_MAX_CONNECTIONS_PER_IP: "1", PARLEY_TRUST_PROXY: "2" });
    twoProxies.rooms.join("a", idleConnection(), { group: "192.0.2.7" });
    const viaTwo = { "X-Forwarded-For": "10.9.9.9, 192.0.2.7, 10.0.0.2" };
    assert.equal((await twoProxies.get("/rooms/lobby/ws", viaTwo)).status, 429);

    const untrusted = setup({ PARLEY_MAX_CONNECTIONS_PER_IP: "1" });
    untrusted.rooms.join("a", idleConnection(), { group: "192.0.2.7" });
    assert.equal((await untrusted.get("/rooms/lobby/ws", forwarded)).status, 426);
  });

  test("origin: absent is allowed", async () => {
    assert.equal((await setup().get("/rooms/lobby/ws", { Host: "localhost:8787" })).status, 426);
  });

  test("origin: the request's own host and port are allowed whatever the scheme", async () => {
    const { get } = setup();
    for (const origin of ["http://localhost:8787", "https://localhost:8787", "HTTP://LOCALHOST:8787"]) {
      assert.equal((await get("/rooms/lobby/ws", { Origin: origin, Host: "localhost:8787" })).status, 426, origin);
    }
    for (const origin of ["http://localhost:8788", "http://localhost", "http://127.0.0.1:8787", "null"]) {
      assert.equal((await get("/rooms/lobby/ws", { Origin: origin, Host: "localhost:8787" })).status, 403, origin);
    }
  });

  test("origin: PARLEY_ALLOWED_ORIGINS lists more", async () => {
    const { get } = setup({ PARLEY_ALLOWED_ORIGINS: "https://app.example, https://other.example:8443" });
    const status = async (origin: string) =>
      (await get("/rooms/lobby/ws", { Origin: origin, Host: "localhost:8787" })).status;
    assert.equal(await status("https://app.example"), 426);
    assert.equal(await status("https://other.example:8443"), 426);
    assert.equal(await status("https://localhost:8787"), 426, "its own origin stays allowed");
    assert.equal(await status("http://app.example"), 403, "the scheme matters for a listed origin");
    assert.equal(await status("https://evil.example"), 403);
  });

  test('origin: PARLEY_ALLOWED_ORIGINS="*" allows any', async () => {
    const { get } = setup({ PARLEY_ALLOWED_ORIGINS: "*" });
    assert.equal((await get("/rooms/lobby/ws", EVIL)).status, 426);
    assert.equal((await get("/rooms/lobby/ws", { Origin: "null" })).status, 426);
  });

  test("good query values pass", async () => {
    const { get } = setup();
    const res = await get(`/rooms/lobby/ws?name=${encodeURIComponent(" ann ")}&token=abc&since=5&epoch=e1`);
    assert.equal(res.status, 426);
    assert.equal((await get(`/rooms/lobby/ws?name=${"n".repeat(32)}`)).status, 426);
  });

  test("bad query values are 400", async () => {
    const { get } = setup();
    for (const query of [
      `name=${"n".repeat(33)}`,
      "name=",
      "name=%00x",
      "since=abc",
      "since=-1",
      "since=1.5",
      `token=${"t".repeat(129)}`,
      `epoch=${"e".repeat(65)}`,
    ]) {
      await errorBody(await get(`/rooms/lobby/ws?${query}`), 400);
    }
  });
});

describe("originAllowed", () => {
  test("an absent origin is allowed", () => {
    assert.equal(originAllowed(undefined, "h:1", []), true);
    assert.equal(originAllowed(undefined, undefined, []), true);
  });

  test("the same host and port is allowed, scheme and case ignored", () => {
    assert.equal(originAllowed("http://localhost:8787", "localhost:8787", []), true);
    assert.equal(originAllowed("https://localhost:8787", "localhost:8787", []), true);
    assert.equal(originAllowed("https://Chat.Example", "chat.example", []), true);
    assert.equal(originAllowed("https://chat.example:443", "chat.example", []), true, "a default port is no port");
  });

  test("another host or port is refused", () => {
    assert.equal(originAllowed("https://evil.example", "localhost:8787", []), false);
    assert.equal(originAllowed("http://localhost:8788", "localhost:8787", []), false);
    assert.equal(originAllowed("http://localhost", "localhost:8787", []), false);
    assert.equal(originAllowed("http://localhost:8787", undefined, []), false);
    assert.equal(originAllowed("http://localhost:8787.evil.example", "localhost:8787", []), false);
  });

  test("an origin that is not a URL is refused unless any is allowed", () => {
    assert.equal(originAllowed("null", "localhost:8787", []), false);
    assert.equal(originAllowed("", "localhost:8787", []), false);
    assert.equal(originAllowed("null", "localhost:8787", ["*"]), true);
  });

  test("listed origins are allowed", () => {
    const allowed = ["https://app.example"];
    assert.equal(originAllowed("https://app.example", "localhost:8787", allowed), true);
    assert.equal(originAllowed("https://app.example:443", "localhost:8787", allowed), true);
    assert.equal(originAllowed("http://app.example", "localhost:8787", allowed), false);
    assert.equal(originAllowed("https://app.example.evil", "localhost:8787", allowed), false);
    assert.equal(originAllowed("https://evil.example", "localhost:8787", ["*"]), true);
  });
});

describe("selectProtocol", () => {
  test("selects parley.v1 when it is offered", () => {
    assert.equal(selectProtocol("parley.v1"), "parley.v1");
    assert.equal(selectProtocol("chat, parley.v1"), "parley.v1");
    assert.equal(selectProtocol(" parley.v1 ,x"), "parley.v1");
  });

  test("selects none otherwise", () => {
    for (const offer of [null, undefined, "", "chat", "parley.v10", "PARLEY.V1", "parley.v1x, v2"]) {
      assert.equal(selectProtocol(offer), undefined, String(offer));
    }
  });
});
