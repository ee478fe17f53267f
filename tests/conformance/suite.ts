/**
 * The conformance suite: every row of docs/protocol.md, written once and run against a real server
 * process of each runtime. A runtime's test file only names the runtime (see node.test.ts); what a
 * runtime does differently, and so which tests it skips and why, is in tests/helpers/runtimes.ts.
 */
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import { after, afterEach, before, describe } from "node:test";
import { Client, type ClientOptions, type Frame, join, refusedStatus, terminateAll } from "../helpers/client.ts";
import { freshRoom, fromAddress, nextAddress, say } from "../helpers/fixtures.ts";
import { seenFrames } from "../helpers/frame-check.ts";
import { idleTimeoutMs, type Runtime, testsWithTimeout } from "../helpers/runtimes.ts";
import { type RunningServer, startServer, tempDir } from "../helpers/server.ts";
import { conformanceApi } from "./api.ts";
import { conformanceOperate } from "./operate.ts";
import { conformanceV2 } from "./v2.ts";

const IDLE_MS = 3000;
// The main server trusts X-Forwarded-For, so every test can act from its own address and the
// per-address cap (3 here) only ever counts that test's own connections.
const MAIN_ENV = {
  PARLEY_DB: ":memory:",
  PARLEY_TRUST_PROXY: "1",
  PARLEY_MAX_CONNECTIONS_PER_IP: "3",
  PARLEY_MAX_MEMBERS: "4",
  PARLEY_ALLOWED_ORIGINS: "http://allowed.example",
  PARLEY_IDLE_TIMEOUT_MS: String(IDLE_MS),
};
// Limits that are slow to reach with the defaults; no proxy trust, so addresses are the sockets'. Its
// tests send far more frames than a person would (131 messages, a flood to a slow reader), so the frame
// budget of PROTOCOL-v2 section 5 is raised with v1's rate bucket; the abuse suite tests the budget.
const LIMITS_ENV = {
  PARLEY_DB: ":memory:",
  PARLEY_MAX_CONNECTIONS_PER_IP: "6",
  PARLEY_MAX_QUEUE_BYTES: "65536",
  PARLEY_RATE_BURST: "100000",
  PARLEY_RATE_PER_SEC: "100000",
  PARLEY_FRAME_BURST: "100000",
  PARLEY_FRAME_PER_SEC: "100000",
  PARLEY_MAX_TEXT: "8000",
};

/** Post `count` messages, waiting whenever the rate limit says so; returns their acks. */
async function sayPaced(client: Client, count: number, prefix = "m"): Promise<Frame[]> {
  const acks = [];
  while (acks.length < count) {
    client.send(say(`${prefix}${acks.length + 1}`, `r${acks.length + 1}`));
    const f = await client.nextOf(["ack", "error"]);
    if (f.type === "ack") acks.push(f);
    else {
      assert.equal(f.code, "rate_limited");
      await new Promise((r) => setTimeout(r, f.retryAfterMs as number));
    }
  }
  return acks;
}

/** Register the whole suite for one runtime. */
export function conformance(runtime: Runtime): void {
  const it = testsWithTimeout(60_000);
  // Every frame this run's clients receive is checked against its schema (the "contract" test, last).
  seenFrames.enabled = true;
  const idleMs = idleTimeoutMs(runtime, IDLE_MS);

  const start = async (env: Record<string, string>) => startServer(() => runtime.command(env), env);
  let main: RunningServer;
  let limits: RunningServer;

  /** ws URL of a room on the main server. */
  const roomUrl = (room: string, query: Record<string, string | number> = {}, server = main) => {
    const q = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)]));
    return `${server.wsUrl}/rooms/${room}/ws${q.size ? `?${q}` : ""}`;
  };
  /** Join a room on the main server from a fresh address (or `ip`). */
  const enter = (
    room: string,
    query: Record<string, string | number> = {},
    opts: ClientOptions & { ip?: string } = {},
  ) => join(roomUrl(room, query), { ...opts, headers: { ...fromAddress(opts.ip ?? nextAddress()), ...opts.headers } });
  const get = async (path: string, init?: RequestInit, server = main) => {
    const res = await fetch(server.url + path, init);
    const text = await res.text();
    const json = res.headers.get("content-type")?.includes("json") ? JSON.parse(text) : undefined;
    return { status: res.status, headers: res.headers, text, json };
  };
  const assertHttpError = (json: unknown, code?: string) => {
    const err = (json as { error: { code: unknown; message: unknown } }).error;
    assert.equal(typeof err.code, "string");
    assert.equal(typeof err.message, "string");
    if (code) assert.equal(err.code, code);
  };

  describe(`conformance: ${runtime.name}`, () => {
    before(async () => {
      [main, limits] = await Promise.all([start(MAIN_ENV), start(LIMITS_ENV)]);
    });
    after(async () => {
      await Promise.all([main?.stop("SIGKILL"), limits?.stop("SIGKILL")]);
    });
    // A failed test may leave sockets open; they would count against the next test's address cap.
    afterEach(terminateAll);

    describe("endpoints", () => {
      it("GET / serves the chat page under a CSP", async () => {
        const res = await get("/");
        assert.equal(res.status, 200);
        assert.match(res.headers.get("content-type") ?? "", /text\/html/);
        assert.match(res.text, /<html/i);
        assert.match(res.headers.get("content-security-policy") ?? "", /default-src 'self'/);
      });

      it("GET /healthz answers ok", async () => {
        const res = await get("/healthz");
        assert.equal(res.status, 200);
        assert.deepEqual(res.json, { ok: true });
      });

      it("GET /api/rooms/:room describes an unused room", async () => {
        const room = freshRoom();
        const res = await get(`/api/rooms/${room}`);
        assert.equal(res.status, 200);
        assert.equal(res.json.room, room);
        assert.equal(res.json.seq, 0);
        assert.deepEqual(res.json.members, []);
        assert.equal(typeof res.json.epoch, "string");
        assert.equal((await get(`/api/rooms/${room}`)).json.epoch, res.json.epoch, "the epoch is stable");
      });

      it("GET /api/rooms/:room lists members and seq", async () => {
        const room = freshRoom();
        const { client: a, welcome } = await enter(room, { name: "ann" });
        a.send(say("one", "r1"));
        await a.next("ack");
        const res = await get(`/api/rooms/${room}`);
        assert.deepEqual(res.json, {
          room,
          epoch: welcome.epoch,
          seq: 1,
          members: [{ id: (welcome.you as Frame).id, name: "ann" }],
        });
        await a.close();
      });

      it("GET /api/rooms/:room/messages pages with before and limit", async () => {
        const room = freshRoom();
        const { client: a } = await enter(room);
        for (let i = 1; i <= 7; i++) {
          a.send(say(`m${i}`, `r${i}`));
          await a.next("ack");
        }
        const all = await get(`/api/rooms/${room}/messages`);
        assert.equal(all.status, 200);
        assert.deepEqual(
          all.json.messages.map((m: Frame) => m.seq),
          [1, 2, 3, 4, 5, 6, 7],
        );
        assert.equal(all.json.more, false);
        const page = await get(`/api/rooms/${room}/messages?before=6&limit=3`);
        assert.deepEqual(
          page.json.messages.map((m: Frame) => m.text),
          ["m3", "m4", "m5"],
        );
        assert.equal(page.json.more, true);
        const first = await get(`/api/rooms/${room}/messages?before=3&limit=100`);
        assert.deepEqual(
          first.json.messages.map((m: Frame) => m.seq),
          [1, 2],
        );
        assert.equal(first.json.more, false);
        const m = all.json.messages[0];
        assert.deepEqual(Object.keys(m).sort(), ["from", "ref", "seq", "text", "ts", "type"]);
        await a.close();
      });

      it("GET /api/rooms/:room/messages defaults to 50 and caps limit at 100", async () => {
        const room = freshRoom();
        const { client: a } = await join(roomUrl(room, {}, limits));
        await sayPaced(a, 60);
        const res = await get(`/api/rooms/${room}/messages`, undefined, limits);
        assert.equal(res.json.messages.length, 50);
        assert.equal(res.json.messages[0].seq, 11);
        assert.equal(res.json.more, true);
        assert.equal((await get(`/api/rooms/${room}/messages?limit=100`, undefined, limits)).json.messages.length, 60);
        assert.equal((await get(`/api/rooms/${room}/messages?limit=101`, undefined, limits)).status, 400);
        await a.close();
      });

      it("bad path and query values get 400 with a JSON error", async () => {
        for (const path of [
          "/api/rooms/a.b",
          `/api/rooms/${"x".repeat(65)}`,
          "/api/rooms/a%20b/messages",
          "/api/rooms/ok/messages?limit=abc",
          "/api/rooms/ok/messages?limit=0",
          "/api/rooms/ok/messages?before=-1",
          "/api/rooms/ok/messages?before=1.5",
        ]) {
          const res = await get(path);
          assert.equal(res.status, 400, path);
          assertHttpError(res.json);
        }
        const missing = await get("/no/such/thing");
        assert.equal(missing.status, 404);
        assertHttpError(missing.json, "not_found");
      });

      it("POST /api/rooms creates an unguessable room name", async () => {
        const a = await get("/api/rooms", { method: "POST" });
        const b = await get("/api/rooms", { method: "POST" });
        assert.equal(a.status, 201);
        assert.match(a.json.room, /^[0-9a-f]{32,}$/);
        assert.notEqual(a.json.room, b.json.room);
        const { client, welcome } = await enter(a.json.room);
        assert.equal(welcome.room, a.json.room);
        await client.close();
      });
    });

    describe("upgrade", () => {
      // The address cap counts per process, and on Workers per room, so these tests keep to one room.
      it("checks run in order: room 400, origin 403, address cap 429, upgrade 426", async () => {
        const ip = nextAddress();
        const room = freshRoom();
        const evil = { origin: "http://evil.example", ...fromAddress(ip) };
        assert.equal(await refusedStatus(`${main.wsUrl}/rooms/bad.name/ws`, { headers: evil }), 400);
        assert.equal((await get("/rooms/bad.name/ws", { headers: evil })).status, 400);
        const held = [];
        for (let i = 0; i < 3; i++) held.push((await enter(room, {}, { ip })).client);
        assert.equal(await refusedStatus(roomUrl(room), { headers: evil }), 403);
        const plainForbidden = await get(`/rooms/${room}/ws`, { headers: evil });
        assert.equal(plainForbidden.status, 403);
        assertHttpError(plainForbidden.json);
        assert.equal(await refusedStatus(roomUrl(room), { headers: fromAddress(ip) }), 429);
        const plainCapped = await get(`/rooms/${room}/ws`, { headers: fromAddress(ip) });
        assert.equal(plainCapped.status, 429);
        assertHttpError(plainCapped.json);
        const plain = await get(`/rooms/${room}/ws`, { headers: fromAddress(nextAddress()) });
        assert.equal(plain.status, 426);
        assertHttpError(plain.json);
        await Promise.all(held.map((c) => c.close()));
      });

      it("a closed connection frees its place under the address cap", async () => {
        const ip = nextAddress();
        const room = freshRoom();
        const held = [];
        for (let i = 0; i < 3; i++) held.push((await enter(room, {}, { ip })).client);
        assert.equal(await refusedStatus(roomUrl(room), { headers: fromAddress(ip) }), 429);
        await held.pop()?.close();
        await new Promise((r) => setTimeout(r, 100));
        const { client } = await enter(room, {}, { ip });
        await Promise.all([...held, client].map((c) => c.close()));
      });

      it("origin: absent, same host, or listed is allowed; others are 403", async () => {
        const room = freshRoom();
        for (const origin of [
          `http://127.0.0.1:${main.port}`,
          `https://127.0.0.1:${main.port}`,
          "http://allowed.example",
        ]) {
          const { client } = await enter(room, {}, { headers: { origin } });
          await client.close();
        }
        for (const origin of ["http://127.0.0.1:1", "http://evil.example", "null"]) {
          const status = await refusedStatus(roomUrl(room), { headers: { origin, ...fromAddress(nextAddress()) } });
          assert.equal(status, 403, origin);
        }
      });

      it("the address comes from X-Forwarded-For only when PARLEY_TRUST_PROXY is set", async () => {
        // The limits server does not trust the header: six sockets from 127.0.0.1 fill its cap of 6
        // whatever addresses they claim.
        const room = freshRoom();
        const claim = () => ({ headers: { "x-forwarded-for": nextAddress() } });
        const held = [];
        for (let i = 0; i < 6; i++) held.push((await join(roomUrl(room, {}, limits), claim())).client);
        assert.equal(await refusedStatus(roomUrl(room, {}, limits), claim()), 429);
        await Promise.all(held.map((c) => c.close()));
      });

      /** The subprotocol a raw handshake with this exact Sec-WebSocket-Protocol header gets back. */
      const selected = (offer?: string) =>
        new Promise<string | undefined>((resolve, reject) => {
          const req = http.get(roomUrl(freshRoom()).replace("ws:", "http:"), {
            headers: {
              connection: "Upgrade",
              upgrade: "websocket",
              "sec-websocket-version": "13",
              "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
              ...fromAddress(nextAddress()),
              ...(offer !== undefined && { "sec-websocket-protocol": offer }),
            },
          });
          req.on("upgrade", (res, socket) => {
            socket.destroy();
            resolve(res.headers["sec-websocket-protocol"]);
          });
          req.on("response", (res) => reject(new Error(`handshake answered ${res.statusCode}`)));
          req.on("error", reject);
        });

      it("subprotocol: parley.v1 is selected when offered, none otherwise", async () => {
        assert.equal(await selected("parley.v1"), "parley.v1");
        assert.equal(await selected("foo, parley.v1"), "parley.v1", "offered after another protocol");
        assert.equal(await selected("parley.v1, foo"), "parley.v1");
        assert.equal(await selected("foo"), undefined);
        assert.equal(await selected(), undefined);
      });

      it("subprotocol: an offer listed without spaces", { skip: runtime.splitsProtocolOnCommaSpaceOnly }, async () => {
        assert.equal(await selected("foo,parley.v1"), "parley.v1");
        const { client } = await enter(freshRoom(), {}, { protocols: ["foo", "parley.v1"] });
        assert.equal(client.ws.protocol, "parley.v1");
        await client.close();
      });

      it("per-message compression is off", { skip: runtime.negotiatesCompression }, async () => {
        const client = new Client(roomUrl(freshRoom()), {
          headers: fromAddress(nextAddress()),
          perMessageDeflate: true,
        });
        await client.opened;
        assert.equal(client.ws.extensions, "");
        await client.close();
      });

      it("bad upgrade query values get 400", async () => {
        const queries: Record<string, string>[] = [
          { name: "x".repeat(33) },
          { name: "   " },
          { since: "abc" },
          { since: "-1" },
        ];
        for (const q of queries) {
          assert.equal(
            await refusedStatus(roomUrl(freshRoom(), q), { headers: { ...fromAddress(nextAddress()) } }),
            400,
          );
        }
      });
    });

    describe("names and ids", () => {
      it("a name is trimmed; without one the server picks guest-<n>", async () => {
        const room = freshRoom();
        const { client: a, welcome: wa } = await enter(room);
        assert.match((wa.you as Frame).name as string, /^guest-\d+$/);
        const { client: b, welcome: wb } = await enter(room, { name: "  Zoë 🦊  " });
        assert.equal((wb.you as Frame).name, "Zoë 🦊");
        await Promise.all([a.close(), b.close()]);
      });

      it("user ids are unique strings from a per-room counter; names need not be unique", async () => {
        const room = freshRoom();
        const ids = [];
        for (let i = 0; i < 3; i++) {
          const { client, welcome } = await enter(room, { name: "same" });
          ids.push((welcome.you as Frame).id);
          await client.close();
        }
        assert.equal(new Set(ids).size, 3);
        assert.ok(ids.every((id) => typeof id === "string"));
        assert.deepEqual(ids.map(Number), [Number(ids[0]), Number(ids[0]) + 1, Number(ids[0]) + 2]);
      });

      it("text is stored and relayed exactly as sent, up to the text limit", async () => {
        const room = freshRoom();
        const { client: a } = await enter(room);
        const texts = ["<script>alert(1)</script>", "  spaced\n\tlines  ", "é".repeat(2000), "🦊".repeat(1000), "x"];
        for (const [i, text] of texts.entries()) {
          a.send(say(text, `t${i}`));
          assert.equal((await a.next("message")).text, text);
        }
        a.send(say("x".repeat(2001), "long"));
        const err = await a.next("error");
        assert.equal(err.code, "too_long");
        assert.equal(err.ref, "long");
        const stored = await get(`/api/rooms/${room}/messages`);
        assert.deepEqual(
          stored.json.messages.map((m: Frame) => m.text),
          texts,
        );
        await a.close();
      });

      it("a frame over the frame limit is closed with 1009", async () => {
        const { client } = await enter(freshRoom());
        client.send(say("x".repeat(17 * 1024)));
        assert.equal((await client.closed).code, 1009);
      });

      it("the frame limit counts bytes after fragments are reassembled", async () => {
        const { client } = await enter(freshRoom());
        // Unknown fields pad a frame past the text limit without breaking it.
        const text = JSON.stringify({ ...say("fragmented"), pad: "y".repeat(10 * 1024) });
        client.ws.send(text.slice(0, 6000), { fin: false });
        client.ws.send(text.slice(6000), { fin: true });
        assert.equal((await client.next("message")).text, "fragmented");
        const big = JSON.stringify({ ...say("too big"), pad: "z".repeat(9 * 1024) });
        client.ws.send(big, { fin: false });
        client.ws.send(big, { fin: true });
        assert.equal((await client.closed).code, 1009);
      });
    });

    describe("frames", () => {
      it("welcome is the first frame, with every field", async () => {
        const room = freshRoom();
        const { client: a, welcome: wa } = await enter(room, { name: "ann" });
        a.send(say("hello", "h"));
        await a.next("ack");
        const b = new Client(roomUrl(room, { name: "bob" }), { headers: { ...fromAddress(nextAddress()) } });
        await b.opened;
        const wb = await b.next();
        assert.equal(wb.type, "welcome");
        assert.deepEqual(Object.keys(wb).sort(), [
          "epoch",
          "members",
          "messages",
          "resumed",
          "room",
          "seq",
          "token",
          "type",
          "you",
        ]);
        assert.equal(wb.room, room);
        assert.equal(wb.epoch, wa.epoch);
        assert.equal((wb.you as Frame).name, "bob");
        assert.equal(typeof wb.token, "string");
        assert.deepEqual((wb.members as Frame[]).map((u) => u.name).sort(), ["ann", "bob"]);
        assert.equal(wb.seq, 1);
        assert.equal(wb.resumed, false);
        assert.deepEqual(
          (wb.messages as Frame[]).map((m) => m.text),
          ["hello"],
        );
        await Promise.all([a.close(), b.close()]);
      });

      it("a fresh join carries the last 50 messages", async () => {
        const room = freshRoom();
        const { client: a } = await join(roomUrl(room, {}, limits));
        await sayPaced(a, 55);
        const { client: b, welcome } = await join(roomUrl(room, {}, limits));
        const seqs = (welcome.messages as Frame[]).map((m) => m.seq);
        assert.equal(seqs.length, 50);
        assert.equal(seqs[0], 6);
        assert.equal(seqs[49], 55);
        await Promise.all([a.close(), b.close()]);
      });

      it("say: everyone gets the message, the sender too, then the sender's ack", async () => {
        const room = freshRoom();
        const { client: a } = await enter(room, { name: "ann" });
        const { client: b } = await enter(room, { name: "bob" });
        a.send(say("hi all", "ref-1"));
        const ma = await a.next("message");
        const mb = await b.next("message");
        assert.deepEqual(ma, mb);
        assert.equal(ma.text, "hi all");
        assert.equal(ma.ref, "ref-1");
        assert.equal((ma.from as Frame).name, "ann");
        assert.equal(typeof ma.ts, "number");
        assert.ok(Math.abs((ma.ts as number) - Date.now()) < 60_000);
        const next = await a.next();
        assert.deepEqual(next, { type: "ack", ref: "ref-1", seq: ma.seq });
        b.send(say("no ref"));
        await b.next("message");
        assert.deepEqual(await b.quiet(200, "ack"), [], "no ack without a ref");
        await Promise.all([a.close(), b.close()]);
      });

      it("seq rises by exactly 1, in the same order for every member", async () => {
        const room = freshRoom();
        const clients = await Promise.all([enter(room), enter(room), enter(room)]);
        for (let i = 0; i < 5; i++) for (const [n, { client }] of clients.entries()) client.send(say(`${n}:${i}`));
        const seen = await Promise.all(
          clients.map(async ({ client }) => {
            const got = [];
            for (let i = 0; i < 15; i++) got.push(await client.next("message"));
            return got.map((m) => `${m.seq}/${m.text}`);
          }),
        );
        assert.deepEqual(seen[1], seen[0]);
        assert.deepEqual(seen[2], seen[0]);
        const seqs = seen[0].map((s) => Number(s.split("/")[0]));
        const start = seqs[0];
        assert.deepEqual(
          seqs,
          seqs.map((_, i) => start + i),
        );
        await Promise.all(clients.map(({ client }) => client.close()));
      });

      it("joined and left are per user and go to everyone else", async () => {
        const room = freshRoom();
        const { client: a } = await enter(room, { name: "ann" });
        const { client: b, welcome: wb } = await enter(room, { name: "bob" });
        const joined = await a.next("joined");
        assert.deepEqual(joined.user, wb.you);
        // A second connection of bob (same token) is not a new member.
        const { client: b2, welcome: wb2 } = await enter(room, { token: wb.token as string });
        assert.deepEqual(wb2.you, wb.you);
        assert.equal((wb2.members as Frame[]).length, 2);
        await b.close();
        assert.deepEqual(await a.quiet(300, "left"), [], "bob is still here through b2");
        await b2.close();
        const left = await a.next("left");
        assert.deepEqual(left.user, wb.you);
        assert.equal(a.frames.filter((f) => f.type === "joined").length, 1);
        assert.equal(b.frames.filter((f) => f.type === "joined").length, 0, "no joined for oneself");
        await a.close();
      });

      it("rename: everyone gets renamed, the renamer included; bad names get bad_name", async () => {
        const room = freshRoom();
        const { client: a, welcome } = await enter(room, { name: "ann" });
        const { client: b } = await enter(room, { name: "bob" });
        a.send({ type: "rename", name: "  anna  " });
        for (const c of [a, b]) {
          const r = await c.next("renamed");
          assert.deepEqual(r, { type: "renamed", user: { id: (welcome.you as Frame).id, name: "anna" }, from: "ann" });
        }
        for (const name of ["", "   ", "x".repeat(33), "bad\u0000name", "tab\there", "del\u007f"]) {
          a.send({ type: "rename", name });
          const err = await a.next("error");
          assert.equal(err.code, "bad_name", JSON.stringify(name));
        }
        a.send(say("after rename"));
        assert.equal(((await b.next("message")).from as Frame).name, "anna");
        const info = await get(`/api/rooms/${room}`);
        assert.ok(info.json.members.some((u: Frame) => u.name === "anna"));
        await Promise.all([a.close(), b.close()]);
      });

      it("typing goes to everyone else, at most once per user per 2 s, and is never stored", async () => {
        const room = freshRoom();
        const { client: a, welcome } = await enter(room);
        const { client: b } = await enter(room);
        a.send({ type: "typing" });
        const t = await b.next("typing");
        assert.deepEqual(t, { type: "typing", user: welcome.you });
        a.send({ type: "typing" });
        a.send({ type: "typing" });
        assert.deepEqual(await b.quiet(500, "typing"), []);
        assert.deepEqual(await a.quiet(10), []);
        assert.equal(a.frames.filter((f) => f.type === "typing" || f.type === "error").length, 0);
        assert.equal((await get(`/api/rooms/${room}`)).json.seq, 0);
        await Promise.all([a.close(), b.close()]);
      });

      it("typing takes no token from the bucket", async () => {
        const { client: a } = await enter(freshRoom());
        for (let i = 0; i < 30; i++) a.send({ type: "typing" });
        for (let i = 0; i < 10; i++) a.send({ type: "ping", ref: `p${i}` });
        for (let i = 0; i < 10; i++) assert.equal((await a.next()).type, "pong");
        await a.close();
      });

      it("history pages older messages, with ref", async () => {
        const room = freshRoom();
        const { client: a } = await enter(room);
        for (let i = 1; i <= 5; i++) a.send(say(`m${i}`));
        for (let i = 1; i <= 5; i++) await a.next("message");
        a.send({ type: "history", before: 4, limit: 2, ref: "h1" });
        const h = await a.next("history");
        assert.deepEqual(
          (h.messages as Frame[]).map((m) => m.seq),
          [2, 3],
        );
        assert.equal(h.more, true);
        assert.equal(h.ref, "h1");
        a.send({ type: "history", before: 3 });
        const h2 = await a.next("history");
        assert.deepEqual(
          (h2.messages as Frame[]).map((m) => m.seq),
          [1, 2],
        );
        assert.equal(h2.more, false);
        assert.equal("ref" in h2, false);
        for (const bad of [{ before: 3, limit: 0 }, { before: 3, limit: 101 }, { before: -1 }, { before: "3" }, {}]) {
          a.send({ type: "history", ...bad });
          assert.equal((await a.next("error")).code, "bad_frame", JSON.stringify(bad));
        }
        await a.close();
      });

      it("ping gets pong, with ref", async () => {
        const { client: a } = await enter(freshRoom());
        a.send({ type: "ping", ref: "p1" });
        assert.deepEqual(await a.next("pong"), { type: "pong", ref: "p1" });
        a.send({ type: "ping" });
        assert.deepEqual(await a.next("pong"), { type: "pong" });
        await a.close();
      });

      it("rate limit: a burst of 10, then rate_limited with retryAfterMs, and nothing relayed", async () => {
        const room = freshRoom();
        const { client: a } = await enter(room);
        const { client: b } = await enter(room);
        for (let i = 0; i < 12; i++) a.send(say(`m${i}`, `r${i}`));
        for (let i = 0; i < 10; i++) assert.equal((await a.next("ack")).ref, `r${i}`);
        for (const ref of ["r10", "r11"]) {
          const err = await a.next("error");
          assert.equal(err.code, "rate_limited");
          assert.equal(err.ref, ref);
          assert.ok((err.retryAfterMs as number) > 0 && (err.retryAfterMs as number) <= 1000);
        }
        await b.quiet(200);
        assert.equal(b.frames.filter((f) => f.type === "message").length, 10);
        await new Promise((r) => setTimeout(r, 600));
        a.send(say("after waiting", "late"));
        assert.equal((await a.next("ack")).ref, "late");
        await Promise.all([a.close(), b.close()]);
      });
    });

    describe("bad input", () => {
      const cases: [string, string, string][] = [
        ["not JSON", "hello", "bad_json"],
        ["truncated JSON", '{"type":"say"', "bad_json"],
        ["a JSON string", '"say"', "bad_frame"],
        ["a JSON array", '["say"]', "bad_frame"],
        ["null", "null", "bad_frame"],
        ["a number", "42", "bad_frame"],
        ["no type", '{"text":"x"}', "bad_frame"],
        ["type of the wrong type", '{"type":1}', "bad_frame"],
        ["unknown type", '{"type":"shout","text":"x"}', "bad_frame"],
        ["missing text", '{"type":"say"}', "bad_frame"],
        ["text of the wrong type", '{"type":"say","text":5}', "bad_frame"],
        ["text null", '{"type":"say","text":null}', "bad_frame"],
        ["blank text", '{"type":"say","text":"  \\n "}', "bad_frame"],
        ["empty text", '{"type":"say","text":""}', "bad_frame"],
        ["ref too long", `{"type":"say","text":"x","ref":"${"r".repeat(65)}"}`, "bad_frame"],
        ["ref of the wrong type", '{"type":"say","text":"x","ref":7}', "bad_frame"],
        ["name of the wrong type", '{"type":"rename","name":["x"]}', "bad_frame"],
        ["type in a __proto__ key", '{"__proto__":{"type":"say","text":"x"}}', "bad_frame"],
        ["deep nesting", `${"[".repeat(5000)}${"]".repeat(5000)}`, "bad_frame"],
        ["a lone surrogate in JSON", '{"type":"say","text":"\\ud800"}', ""],
      ];
      for (const [what, raw, code] of cases) {
        it(`${what} gets ${code || "a message"} and the connection stays open`, async () => {
          const { client: a } = await enter(freshRoom());
          a.send(raw);
          const f = await a.next();
          if (code) {
            assert.equal(f.type, "error");
            assert.equal(f.code, code);
            assert.equal(typeof f.message, "string");
          } else assert.equal(f.type, "message");
          a.send({ type: "ping", ref: "still" });
          assert.deepEqual(await a.next("pong"), { type: "pong", ref: "still" });
          await a.close();
        });
      }

      it("an error echoes the rejected frame's ref only when it was valid", async () => {
        const { client: a } = await enter(freshRoom());
        a.send({ type: "say", text: "", ref: "mine" });
        assert.equal((await a.next("error")).ref, "mine");
        a.send({ type: "say", text: 5, ref: "mine2" });
        assert.equal((await a.next("error")).ref, "mine2");
        a.send({ type: "say", text: "", ref: { no: 1 } });
        assert.equal("ref" in (await a.next("error")), false);
        await a.close();
      });

      it("__proto__ keys and unknown fields change nothing", async () => {
        const room = freshRoom();
        const { client: a } = await enter(room);
        a.send(
          '{"type":"say","text":"proto","ref":"p","__proto__":{"admin":true},"constructor":{"prototype":{"x":1}},"extra":1}',
        );
        const m = await a.next("message");
        assert.deepEqual(Object.keys(m).sort(), ["from", "ref", "seq", "text", "ts", "type"]);
        a.send(`{"type":"say","text":"nested","junk":${"[".repeat(3000)}${"]".repeat(3000)}}`);
        assert.equal((await a.next("message")).text, "nested");
        const { client: b, welcome } = await enter(room);
        assert.deepEqual(
          (welcome.messages as Frame[]).map((x) => x.text),
          ["proto", "nested"],
        );
        await Promise.all([a.close(), b.close()]);
      });

      it("a binary frame is closed with 1003", async () => {
        const { client } = await enter(freshRoom());
        client.ws.send(Buffer.from('{"type":"ping"}'));
        assert.equal((await client.closed).code, 1003);
        const res = await get("/healthz");
        assert.equal(res.status, 200);
      });

      it("more than 30 rejected frames within 10 s are closed with 1008", async () => {
        const { client } = await enter(freshRoom());
        for (let i = 0; i < 31; i++) client.send("nope");
        const closed = await client.closed;
        assert.equal(closed.code, 1008);
        assert.equal(client.frames.filter((f) => f.type === "error").length, 31);
      });

      it("rate_limited counts as a strike", async () => {
        const { client } = await enter(freshRoom());
        // With a ref: on Workers the bare {"type":"ping"} is answered by the platform and never reaches
        // the rate limiter (docs/protocol.md, "Workers").
        for (let i = 0; i < 41; i++) client.send({ type: "ping", ref: `p${i}` });
        assert.equal((await client.closed).code, 1008);
        assert.equal(client.frames.filter((f) => f.code === "rate_limited").length, 31);
      });

      it("a raw junk handshake does not hurt the server", async () => {
        await new Promise<void>((resolve) => {
          const s = net.connect(main.port, "127.0.0.1", () => {
            s.write("GET /rooms/x/ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
            s.write(Buffer.from([0xff, 0x00, 0x13, 0x37]));
            setTimeout(() => s.destroy(), 100);
          });
          s.on("error", () => {});
          s.on("close", () => resolve());
        });
        assert.equal((await get("/healthz")).status, 200);
      });
    });

    describe("tokens and resume", () => {
      it("a token restores the user id and, unless a name is given, the name", async () => {
        const room = freshRoom();
        const { client: a, welcome } = await enter(room, { name: "ann" });
        await a.close();
        const back = await enter(room, { token: welcome.token as string });
        assert.deepEqual(back.welcome.you, welcome.you);
        await back.client.close();
        const renamed = await enter(room, { token: welcome.token as string, name: "annie" });
        assert.deepEqual(renamed.welcome.you, { id: (welcome.you as Frame).id, name: "annie" });
        await renamed.client.close();
        const other = await enter(freshRoom(), { token: welcome.token as string });
        assert.notEqual(other.welcome.token, welcome.token, "a token is valid only in its room");
        await other.client.close();
        const unknown = await enter(room, { token: "not-a-token" });
        assert.notEqual((unknown.welcome.you as Frame).id, (welcome.you as Frame).id);
        await unknown.client.close();
      });

      it("resume with since and epoch replays exactly the missed messages", async () => {
        const room = freshRoom();
        const { client: a, welcome } = await enter(room);
        const { client: b } = await enter(room);
        a.send(say("seen"));
        const seen = await a.next("message");
        await a.close();
        for (let i = 0; i < 3; i++) b.send(say(`missed ${i}`));
        for (let i = 0; i < 3; i++) await b.next("message");
        const back = await enter(room, {
          token: welcome.token as string,
          since: seen.seq as number,
          epoch: welcome.epoch as string,
        });
        assert.equal(back.welcome.resumed, true);
        assert.deepEqual(
          (back.welcome.messages as Frame[]).map((m) => m.text),
          ["missed 0", "missed 1", "missed 2"],
        );
        assert.equal(back.welcome.seq, (seen.seq as number) + 3);
        b.send(say("live"));
        assert.equal((await back.client.next("message")).text, "live");
        await Promise.all([back.client.close(), b.close()]);
      });

      it("resume with a wrong epoch or from too far back falls back to the latest messages", async () => {
        const room = freshRoom();
        const { client: a, welcome } = await enter(room);
        a.send(say("one"));
        await a.next("message");
        const wrong = await enter(room, { since: 0, epoch: "not-the-epoch" });
        assert.equal(wrong.welcome.resumed, false);
        assert.equal((wrong.welcome.messages as Frame[]).length, 1);
        const ahead = await enter(room, { since: 99, epoch: welcome.epoch as string });
        assert.equal(ahead.welcome.resumed, false);
        const exact = await enter(room, { since: 1, epoch: welcome.epoch as string });
        assert.equal(exact.welcome.resumed, true);
        assert.deepEqual(exact.welcome.messages, []);
        await Promise.all([a.close(), wrong.client.close(), ahead.client.close(), exact.client.close()]);
      });

      it("resume is refused past 100 messages behind", async () => {
        const room = freshRoom();
        const { client: a, welcome } = await join(roomUrl(room, {}, limits));
        await sayPaced(a, 131);
        const near = await join(roomUrl(room, { since: 31, epoch: welcome.epoch as string }, limits));
        assert.equal(near.welcome.resumed, true, "100 behind is within the window");
        assert.equal((near.welcome.messages as Frame[]).length, 100);
        const far = await join(roomUrl(room, { since: 30, epoch: welcome.epoch as string }, limits));
        assert.equal(far.welcome.resumed, false, "101 behind is past the window");
        assert.deepEqual(
          (far.welcome.messages as Frame[]).map((m) => m.seq),
          Array.from({ length: 50 }, (_, i) => i + 82),
        );
      });
    });

    describe("history limit", () => {
      // A server that keeps 20 messages per room.
      let small: RunningServer;
      before(async () => {
        small = await start({ ...LIMITS_ENV, PARLEY_HISTORY_LIMIT: "20" });
      });
      after(() => small?.stop("SIGKILL"));

      it("history keeps PARLEY_HISTORY_LIMIT messages, the oldest going first", async () => {
        const room = freshRoom();
        const { client: a } = await join(roomUrl(room, {}, small));
        await sayPaced(a, 25);
        const res = await get(`/api/rooms/${room}/messages?limit=100`, undefined, small);
        assert.deepEqual(
          res.json.messages.map((m: Frame) => m.seq),
          Array.from({ length: 20 }, (_, i) => i + 6),
        );
        assert.equal(res.json.more, false);
        a.send({ type: "history", before: 100, limit: 100 });
        assert.equal(((await a.next("history")).messages as Frame[]).length, 20);
      });

      it("resume is refused once the missed messages are no longer kept", async () => {
        const room = freshRoom();
        const { client: a, welcome } = await join(roomUrl(room, {}, small));
        await sayPaced(a, 30);
        const gone = await join(roomUrl(room, { since: 9, epoch: welcome.epoch as string }, small));
        assert.equal(gone.welcome.resumed, false, "message 10 is no longer kept");
        assert.deepEqual(
          (gone.welcome.messages as Frame[]).map((m) => m.seq),
          Array.from({ length: 20 }, (_, i) => i + 11),
        );
        const kept = await join(roomUrl(room, { since: 10, epoch: welcome.epoch as string }, small));
        assert.equal(kept.welcome.resumed, true);
        assert.equal((kept.welcome.messages as Frame[]).length, 20);
      });
    });

    describe("close codes", () => {
      it("1000: a client's normal close makes it leave", async () => {
        const room = freshRoom();
        const { client: a } = await enter(room);
        const { client: b, welcome } = await enter(room);
        assert.equal((await b.close(1000)).code, 1000);
        assert.deepEqual((await a.next("left")).user, welcome.you);
        await a.close();
      });

      it("1013 room_full: a full room sends no welcome, only the close", async () => {
        const room = freshRoom();
        const members = [];
        for (let i = 0; i < 4; i++) members.push(await enter(room));
        const extra = new Client(roomUrl(room), { headers: { ...fromAddress(nextAddress()) } });
        const closed = await extra.closed;
        assert.equal(closed.code, 1013);
        assert.equal(closed.reason, "room_full");
        assert.deepEqual(extra.frames, []);
        // A member's second connection is not a new member.
        const again = await enter(room, { token: members[0].welcome.token as string });
        await again.client.close();
        await Promise.all(members.map(({ client }) => client.close()));
      });

      it("1013 slow_reader: a client that stops reading is closed, and the others get every message", {
        skip: runtime.ownsSendQueue,
      }, async () => {
        const room = freshRoom();
        const { client: writer } = await join(roomUrl(room, {}, limits));
        const { client: slow } = await join(roomUrl(room, {}, limits));
        const socket = (slow.ws as unknown as { _socket: net.Socket })._socket;
        socket.pause();
        const text = "s".repeat(7000);
        const n = 3000;
        // The writer reads as it writes (5 in flight, 35 KB, under the 64 KiB queue), so only the paused
        // reader falls behind. Deno counts a frame as queued until its write completes, so a larger burst
        // inside one turn would make the writer itself a slow reader there.
        for (let i = 0; i < n; i += 5) {
          for (let j = 0; j < 5; j++) writer.send(say(text));
          for (let j = 0; j < 5; j++) assert.equal((await writer.next("message", 20_000)).seq, i + j + 1);
          // The reader reads again as soon as the room let it go: a runtime may abort a socket whose close
          // frame sits unread behind its backlog for long (uWS gives it 2 s on a 4 s tick), and the close
          // code is what this test reads.
          if (socket.isPaused() && writer.frames.some((f) => f.type === "left")) socket.resume();
        }
        socket.resume();
        const closed = await slow.closed;
        assert.equal(closed.code, 1013);
        assert.equal(closed.reason, "slow_reader");
        assert.ok(slow.frames.length < n, "the slow reader was cut off before the end");
        await writer.close();
      });

      it("idle: a connection that sends nothing, not even a pong, is closed", { skip: runtime.ownsIdle }, async () => {
        const { client } = await enter(freshRoom(), {}, { autoPong: false });
        const started = Date.now();
        const closed = await client.closed;
        const took = Date.now() - started;
        // Runtimes check idleness on a coarse timer (Bun every few seconds), so allow early by half.
        assert.ok(took >= idleMs * 0.5, `closed after ${took} ms, long before the ${idleMs} ms timeout`);
        assert.ok(took < idleMs * 3 + 5000, `closed after ${took} ms`);
        assert.ok(closed.code !== 1000, `closed with ${closed.code}`);
      });

      it("a client that answers pings stays connected past the idle timeout", async () => {
        const { client } = await enter(freshRoom());
        await new Promise((r) => setTimeout(r, idleMs + 2500));
        client.send({ type: "ping" });
        assert.equal((await client.next("pong")).type, "pong");
        await client.close();
      });
    });

    describe("durability", () => {
      it("kill -9 and restart: history, epoch, seq and user ids carry on", async () => {
        const env = { PARLEY_DB: `${tempDir()}/parley.db` };
        let server = await start(env);
        const room = "durable";
        const url = (q: Record<string, string> = {}) => `${server.wsUrl}/rooms/${room}/ws?${new URLSearchParams(q)}`;
        const { client: a, welcome } = await join(url({ name: "ann" }));
        for (let i = 1; i <= 3; i++) {
          a.send(say(`before ${i}`, `r${i}`));
          await a.next("ack");
        }
        await server.stop("SIGKILL");
        await a.closed;
        server = await start(env);
        const info = await (await fetch(`${server.url}/api/rooms/${room}`)).json();
        assert.equal(info.epoch, welcome.epoch);
        assert.equal(info.seq, 3);
        const back = await join(url({ token: welcome.token as string, since: "1", epoch: welcome.epoch as string }));
        assert.deepEqual(back.welcome.you, welcome.you);
        assert.equal(back.welcome.resumed, true);
        assert.deepEqual(
          (back.welcome.messages as Frame[]).map((m) => m.text),
          ["before 2", "before 3"],
        );
        back.client.send(say("after"));
        assert.equal((await back.client.next("message")).seq, 4);
        const fresh = await join(url());
        assert.equal(Number((fresh.welcome.you as Frame).id), Number((welcome.you as Frame).id) + 1);
        await Promise.all([back.client.close(), fresh.client.close()]);
        await server.stop("SIGKILL");
      });

      it("1001 on SIGTERM: every socket is told, and the server exits 0", { skip: runtime.ownsShutdown }, async () => {
        const env = { PARLEY_DB: `${tempDir()}/parley.db` };
        const server = await start(env);
        const url = `${server.wsUrl}/rooms/bye/ws`;
        const clients = await Promise.all([join(url), join(url), join(`${server.wsUrl}/rooms/other/ws`)]);
        clients[0].client.send(say("last words", "lw"));
        await clients[0].client.next("ack");
        const started = Date.now();
        const code = await server.stop("SIGTERM");
        for (const { client } of clients) assert.equal((await client.closed).code, 1001);
        assert.equal(code, 0);
        assert.ok(Date.now() - started < 5000);
        const again = await start(env);
        const msgs = await (await fetch(`${again.url}/api/rooms/bye/messages`)).json();
        assert.deepEqual(
          msgs.messages.map((m: Frame) => m.text),
          ["last words"],
        );
        await again.stop("SIGKILL");
      });
    });

    conformanceV2(runtime);
    conformanceApi(runtime);
    conformanceOperate(runtime);

    describe("contract", () => {
      it("every server frame seen in this run validates against its JSON Schema (docs/schema/server, with ajv)", async () => {
        assert.deepEqual(seenFrames.failures, []);
        const kinds = ["welcome", "message", "ack", "joined", "left", "renamed", "typing", "history", "pong", "error"];
        for (const type of [...kinds, "edited", "deleted", "reacted", "moderated"]) {
          assert.ok((seenFrames.counts.get(type) ?? 0) > 0, `a ${type} frame was seen and checked`);
        }
      });
    });
  });
}
