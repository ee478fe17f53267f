/**
 * The application's backend (PROTOCOL-v2 section 4): the HTTP API behind PARLEY_API_KEY, written once and
 * run against a real server of each runtime (inside `conformance(runtime)`). Two servers: one with the key
 * and PARLEY_AUTH=required (so the v1 reads need the key or a token, the last row of section 4), and one
 * without the key, where every backend endpoint answers 404. Webhooks are in tests/reliability/webhooks.ts.
 */
import assert from "node:assert/strict";
import { after, before, describe } from "node:test";
import { Client, type Frame, join } from "../helpers/client.ts";
import { freshRoom, fromAddress, nextAddress, say } from "../helpers/fixtures.ts";
import { type Runtime, testsWithTimeout } from "../helpers/runtimes.ts";
import { type RunningServer, startServer } from "../helpers/server.ts";
import { signToken, TEST_JWT_SECRET } from "../helpers/tokens.ts";
import { eventually, within } from "../helpers/wait.ts";

/** The key the API server gets as PARLEY_API_KEY (at least 16 characters). */
export const TEST_API_KEY = "parley-test-api-key-0123456789";
const V1 = ["parley.v1"];
const V2 = ["parley.v2"];
const MAX_TEXT = 8000;
const ORIGIN = "http://allowed.example";
/** `by` of whatever the API does other than posting (PROTOCOL-v2 section 1). */
const API_USER = { id: "api", name: "api", bot: true };
const ENTRY_KINDS = new Set(["message", "edited", "deleted", "reacted", "moderated"]);
/** The largest entries page, in bytes of JSON (PROTOCOL-v2 section 5). */
const PAGE_BYTES = 256 * 1024;

const BASE_ENV = {
  PARLEY_DB: ":memory:",
  PARLEY_JWT_SECRET: TEST_JWT_SECRET,
  PARLEY_TRUST_PROXY: "1",
  PARLEY_ALLOWED_ORIGINS: ORIGIN,
  PARLEY_RATE_BURST: "100000",
  PARLEY_RATE_PER_SEC: "100000",
  PARLEY_FRAME_BURST: "100000",
  PARLEY_FRAME_PER_SEC: "100000",
  PARLEY_CONNECT_BURST: "100000",
};
const API_ENV = {
  ...BASE_ENV,
  PARLEY_API_KEY: TEST_API_KEY,
  PARLEY_AUTH: "required",
  PARLEY_MAX_TEXT: String(MAX_TEXT),
};
const NO_KEY_ENV = { ...BASE_ENV };

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: a JSON answer, checked field by field
  json: any;
}

interface CallOptions {
  /** A JSON body (an object), or the raw text to send. */
  body?: unknown;
  /** The Authorization header; default `Bearer <key>`, null for none. */
  auth?: string | null;
  headers?: Record<string, string>;
}

/** A signed user's socket: its client, `welcome`, user and access token. */
interface Joined {
  client: Client;
  welcome: Frame;
  you: Frame;
  token: string;
}

const entriesOf = (frames: Frame[]) => frames.filter((f) => ENTRY_KINDS.has(f.type));
/** The bot user of an API message from `{name, sub?}`. */
const botUser = (from: { name: string; sub?: string }) => ({
  id: `bot:${from.sub ?? from.name}`,
  name: from.name,
  bot: true,
});

/** Register the API part for one runtime (inside `conformance(runtime)`). */
export function conformanceApi(runtime: Runtime): void {
  const it = testsWithTimeout(60_000);
  let api: RunningServer;
  let noKey: RunningServer;
  const start = async (env: Record<string, string>) => startServer(() => runtime.command(env), env);

  const call = async (method: string, path: string, o: CallOptions = {}, server = api): Promise<Answer> => {
    const headers: Record<string, string> = { ...o.headers };
    const auth = o.auth === undefined ? `Bearer ${TEST_API_KEY}` : o.auth;
    if (auth !== null) headers.authorization = auth;
    let body: string | undefined;
    if (o.body !== undefined) {
      body = typeof o.body === "string" ? o.body : JSON.stringify(o.body);
      headers["content-type"] ??= "application/json";
    }
    const res = await fetch(server.url + path, { method, headers, body });
    const text = await res.text();
    let json: unknown;
    if (res.headers.get("content-type")?.includes("json")) json = JSON.parse(text);
    if (runtime.stallsAfterUnreadBody && body !== undefined && res.status >= 400) await takeStall(server);
    return { status: res.status, headers: res.headers, text, json };
  };
  /** A throwaway request that takes the stall a refusal may leave (see the flag); its answer does not matter. */
  const takeStall = (server: RunningServer) =>
    fetch(`${server.url}/healthz`, { signal: AbortSignal.timeout(2000) }).then(
      (res) => res.text(),
      () => "",
    );
  const what = (method: string, path: string, res: Answer) =>
    `${method} ${path}: ${res.status} ${res.text.slice(0, 300)}`;
  /** A call that must succeed with `status`; its JSON. */
  const ok = async (method: string, path: string, body: unknown, status: number) => {
    const res = await call(method, path, { body });
    assert.equal(res.status, status, what(method, path, res));
    return res.json;
  };
  /** A call that must fail with `status` and the JSON error `code`. */
  const fails = async (method: string, path: string, o: CallOptions, status: number, code: string, server = api) => {
    const res = await call(method, path, o, server);
    const label = `${what(method, path, res)} (body ${JSON.stringify(o.body)?.slice(0, 80)}, auth ${o.auth?.slice(0, 30)})`;
    assert.equal(res.status, status, label);
    assert.equal(typeof res.json?.error?.message, "string", `a JSON error body: ${label}`);
    assert.equal(res.json.error.code, code, label);
    return res;
  };

  const post = (room: string, body: unknown) => ok("POST", `/api/rooms/${room}/messages`, body, 201);
  const remove = (room: string, seq: number) => ok("DELETE", `/api/rooms/${room}/messages/${seq}`, undefined, 200);
  const moderate = (room: string, body: unknown) => ok("POST", `/api/rooms/${room}/moderation`, body, 200);
  const entries = async (room: string, query = "") => {
    const res = await call("GET", `/api/rooms/${room}/entries${query}`);
    assert.equal(res.status, 200, what("GET", `entries${query}`, res));
    return { entries: res.json.entries as Frame[], more: res.json.more as boolean, bytes: Buffer.byteLength(res.text) };
  };
  /**
   * Access is required on the API server, so the v1 reads below carry a member's access token; that they
   * also take the API key is one test of its own. The server without a key is in `optional` mode.
   */
  let reader = "";
  const readAuth = (server = api) => (server === noKey ? { auth: null } : { auth: `Bearer ${reader}` });
  /** The room's `seq`. */
  const roomSeq = async (room: string, server = api) => {
    const res = await call("GET", `/api/rooms/${room}`, readAuth(server), server);
    assert.equal(res.status, 200, res.text);
    return res.json.seq as number;
  };
  const folded = async (room: string) => {
    const res = await call("GET", `/api/rooms/${room}/messages?limit=100`, readAuth());
    assert.equal(res.status, 200, res.text);
    return res.json.messages as Frame[];
  };

  const socketUrl = (room: string, query: Record<string, string | number>) =>
    `${api.wsUrl}/rooms/${room}/ws?${new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)]))}`;
  /** Join `room` as the signed user `sub` (v2 unless `protocols` says otherwise). */
  const signIn = async (
    room: string,
    sub: string,
    o: { protocols?: string[]; query?: Record<string, string | number>; name?: string } = {},
  ): Promise<Joined> => {
    const token = await signToken({ sub, name: o.name ?? sub });
    const { client, welcome } = await join(socketUrl(room, { ...o.query, access_token: token }), {
      protocols: o.protocols ?? V2,
      headers: fromAddress(nextAddress()),
    });
    return { client, welcome, you: welcome.you as Frame, token };
  };
  /** A member who leaves now; `back()` resumes it (since + epoch + token) and returns what the resume replayed. */
  const away = async (room: string, sub: string) => {
    const j = await signIn(room, sub);
    await j.client.close();
    return async () => {
      const { client, welcome } = await join(
        socketUrl(room, {
          access_token: j.token,
          token: j.welcome.token as string,
          since: j.welcome.seq as number,
          epoch: j.welcome.epoch as string,
        }),
        { protocols: V2, headers: fromAddress(nextAddress()) },
      );
      assert.equal(welcome.resumed, true, "the resume is served");
      await client.close();
      return welcome.messages as Frame[];
    };
  };

  /** The first frame `client` received, so far or within `ms`, that matches `pred`. */
  const seen = async (client: Client, pred: (f: Frame) => boolean, label: string, ms = 5000): Promise<Frame> => {
    let found: Frame | undefined;
    await eventually(
      () => {
        found = client.frames.find(pred);
        return found !== undefined;
      },
      () => `${label}; last frames: ${JSON.stringify(client.frames.slice(-6))}`,
      ms,
    );
    return found as Frame;
  };
  const entryAt = (client: Client, seq: number) =>
    seen(client, (f) => ENTRY_KINDS.has(f.type) && f.seq === seq, `entry ${seq}`);
  let lastRef = 0;
  /** A socket `say` that must commit; its `seq`. */
  const sayOk = async (j: Joined, text: string) => {
    const ref = `api-r${++lastRef}`;
    j.client.send(say(text, ref));
    const ack = await seen(j.client, (f) => (f.type === "ack" || f.type === "error") && f.ref === ref, `ack ${ref}`);
    assert.equal(ack.type, "ack", JSON.stringify(ack));
    return ack.seq as number;
  };
  /** How a join with `token` is answered: the upgrade's status (101 when it opened) and the plain GET's. */
  const refusal = async (room: string, token: string) => {
    const url = socketUrl(room, { access_token: token });
    const client = new Client(url, { protocols: V2, headers: fromAddress(nextAddress()) });
    const opened = await within(
      client.opened.then(
        () => true,
        () => false,
      ),
      10_000,
      "the handshake",
    );
    if (opened) await client.close();
    else await within(client.closed, 10_000, "the refused handshake's close");
    const res = await fetch(url.replace(/^ws/, "http"), { headers: fromAddress(nextAddress()) });
    const body = await res.text();
    let code: unknown;
    try {
      code = JSON.parse(body).error?.code;
    } catch {
      code = `<not JSON: ${body.slice(0, 80)}>`;
    }
    return { upgrade: opened ? 101 : client.status, status: res.status, code };
  };
  const closeOf = (j: Joined, label: string) =>
    within(j.client.closed, runtime.keepsTcpAfterClose ? 20_000 : 5000, label);

  /** The four backend endpoints of a room, each with a body it would accept. */
  const endpoints = (room: string) => [
    { method: "POST", path: `/api/rooms/${room}/messages`, body: { text: "hello", from: { name: "bot" } } },
    { method: "DELETE", path: `/api/rooms/${room}/messages/1` },
    { method: "POST", path: `/api/rooms/${room}/moderation`, body: { action: "ban", sub: "someone" } },
    { method: "GET", path: `/api/rooms/${room}/entries?after=0&limit=10` },
  ];

  describe("backend API", () => {
    before(async () => {
      [api, noKey, reader] = await Promise.all([start(API_ENV), start(NO_KEY_ENV), signToken({ sub: "reader" })]);
    });
    after(async () => {
      await Promise.all([api?.stop("SIGKILL"), noKey?.stop("SIGKILL")]);
    });

    describe("auth", () => {
      it("api: without PARLEY_API_KEY every backend endpoint answers 404 not_found, whatever the request carries", async () => {
        const room = freshRoom("nokey");
        const jwt = await signToken({ sub: "mod", role: "moderator" });
        for (const auth of [null, `Bearer ${TEST_API_KEY}`, "Bearer wrong-key-0123456789abcdef", `Bearer ${jwt}`]) {
          for (const e of endpoints(room)) {
            const res = await fails(
              e.method,
              e.path,
              { body: e.body, auth, headers: { origin: ORIGIN } },
              404,
              "not_found",
              noKey,
            );
            assert.equal(res.headers.get("access-control-allow-origin"), null, `no CORS: ${e.method} ${e.path}`);
          }
        }
        assert.equal(await roomSeq(room, noKey), 0, "nothing was written");
      });

      it("api: a missing or wrong bearer is 401 unauthorized on every endpoint, and changes nothing", async () => {
        const room = freshRoom("auth");
        await post(room, { text: "one", from: { name: "bot" } });
        const jwt = await signToken({ sub: "mod", name: "mod", role: "moderator" });
        const wrong = [
          null,
          "",
          TEST_API_KEY,
          `Basic ${Buffer.from(`api:${TEST_API_KEY}`).toString("base64")}`,
          "Bearer ",
          `Bearer ${TEST_API_KEY}x`,
          `Bearer ${TEST_API_KEY.slice(0, -1)}`,
          `Bearer ${"x".repeat(TEST_API_KEY.length)}`,
          // An access token, even a moderator's, is not the key.
          `Bearer ${jwt}`,
        ];
        for (const auth of wrong) {
          for (const e of endpoints(room)) {
            await fails(e.method, e.path, { body: e.body, auth }, 401, "unauthorized");
          }
        }
        assert.equal(await roomSeq(room), 1, "no refused call made an entry");
        assert.equal((await folded(room))[0].text, "one", "the refused DELETE deleted nothing");
      });

      it("api: the backend endpoints send no CORS headers, even to an allowed origin", async () => {
        const room = freshRoom("cors");
        const headers = { origin: ORIGIN };
        // The control: this origin is allowed, and the public read answers it.
        const read = await call("GET", `/api/rooms/${room}`, { headers, ...readAuth() });
        assert.equal(read.status, 200, read.text);
        assert.equal(read.headers.get("access-control-allow-origin"), ORIGIN, "the public read sends CORS");
        const answers = [
          await call("POST", `/api/rooms/${room}/messages`, { body: { text: "hi", from: { name: "bot" } }, headers }),
          await call("DELETE", `/api/rooms/${room}/messages/1`, { headers }),
          await call("POST", `/api/rooms/${room}/moderation`, { body: { action: "ban", sub: "x" }, headers }),
          await call("GET", `/api/rooms/${room}/entries`, { headers }),
          await call("POST", `/api/rooms/${room}/messages`, {
            body: { text: "hi", from: { name: "bot" } },
            headers,
            auth: null,
          }),
          await call("POST", `/api/rooms/${room}/messages`, { body: "{", headers }),
        ];
        assert.deepEqual(
          answers.map((a) => a.status),
          [201, 200, 200, 200, 401, 400],
        );
        for (const a of answers) {
          const cors = [...a.headers.keys()].filter((k) => k.startsWith("access-control-"));
          assert.deepEqual(cors, [], `${a.status} ${a.text.slice(0, 80)}`);
        }
      });

      it("api: with PARLEY_AUTH=required the v1 reads take the API key, and refuse a wrong one", async () => {
        const room = freshRoom("reads");
        await post(room, { text: "hello", from: { name: "bot" } });
        for (const path of [`/api/rooms/${room}`, `/api/rooms/${room}/messages`]) {
          const res = await call("GET", path);
          assert.equal(res.status, 200, `${path} with the key: ${res.text}`);
          await fails("GET", path, { auth: null }, 401, "unauthorized");
          await fails("GET", path, { auth: `Bearer ${TEST_API_KEY}x` }, 401, "unauthorized");
        }
      });
    });

    describe("messages", () => {
      it("api: POST messages is 201 {seq} after commit; live to v2 and v1 members, from a bot user", async () => {
        const room = freshRoom("post");
        const alice = await signIn(room, "alice");
        const old = await signIn(room, "oldie", { protocols: V1 });
        assert.equal(old.client.ws.protocol, "parley.v1");
        const s1 = await sayOk(alice, "hi all");

        const from = { name: "Dice", sub: "dice-1" };
        const res = await call("POST", `/api/rooms/${room}/messages`, {
          body: { text: "rolled 4", from, ref: "roll-1" },
        });
        assert.equal(res.status, 201, res.text);
        assert.deepEqual(res.json, { seq: s1 + 1 });
        assert.equal(await roomSeq(room), s1 + 1, "committed before the answer");
        const bot = botUser(from);
        const live = await entryAt(alice.client, s1 + 1);
        assert.equal(live.type, "message");
        assert.equal(live.text, "rolled 4");
        assert.equal(live.ref, "roll-1");
        assert.equal(typeof live.ts, "number");
        assert.deepEqual(live.from, bot);
        assert.deepEqual(live.by, bot, "by = from");
        assert.notEqual(bot.id, alice.you.id, "a bot id is never a person's");

        // Without a sub the id comes from the name; a reply carries replyTo.
        const reply = await post(room, { text: "welcome!", from: { name: "greeter" }, replyTo: s1 });
        const r = await entryAt(alice.client, reply.seq);
        assert.deepEqual(r.from, { id: "bot:greeter", name: "greeter", bot: true });
        assert.equal(r.replyTo, s1);

        // A deleted message and a moderation make entries a v1 connection never sees; it tolerates the gaps.
        await remove(room, reply.seq);
        await moderate(room, { action: "mute", sub: "nobody-yet", minutes: 1 });
        const last = await post(room, { text: "still here", from });
        await entryAt(alice.client, last.seq);
        const v1Frames = await seen(old.client, (f) => f.type === "message" && f.seq === last.seq, "the last message");
        assert.deepEqual(v1Frames.from, bot);
        assert.deepEqual(
          old.client.frames
            .filter((f) => f.type !== "welcome" && f.type !== "joined" && f.type !== "left")
            .map((f) => `${f.type}:${f.seq}`),
          [`message:${s1}`, `message:${s1 + 1}`, `message:${reply.seq}`, `message:${last.seq}`],
          "a v1 member gets the API's messages, and nothing else",
        );
        const v1Msg = old.client.frames.find((f) => f.seq === s1 + 1) as Frame;
        assert.equal(v1Msg.text, "rolled 4");
        assert.equal(old.client.ws.readyState, old.client.ws.OPEN);
        await Promise.all([alice.client.close(), old.client.close()]);
      });

      it("api: API posts and socket says share one seq order: live, folded history, welcome, a resume, entries", async () => {
        const room = freshRoom("order");
        const alice = await signIn(room, "alice");
        const resume = await away(room, "rex");
        const from = { name: "helper", sub: "h" };
        const expected: { seq: number; text: string; fromId: string }[] = [];
        const bot = botUser(from);
        for (let i = 1; i <= 4; i++) {
          expected.push({
            seq: await sayOk(alice, `socket ${i}`),
            text: `socket ${i}`,
            fromId: alice.you.id as string,
          });
          const { seq } = await post(room, { text: `api ${i}`, from });
          expected.push({ seq, text: `api ${i}`, fromId: bot.id });
        }
        // At the same moment: both commit, each once, with distinct seqs.
        const both = await Promise.all([
          sayOk(alice, "race socket"),
          post(room, { text: "race api", from }).then((r) => r.seq as number),
        ]);
        expected.push(
          { seq: both[0], text: "race socket", fromId: alice.you.id as string },
          { seq: both[1], text: "race api", fromId: bot.id },
        );
        expected.sort((a, b) => a.seq - b.seq);
        const n = expected.length;
        assert.deepEqual(
          expected.map((e) => e.seq),
          Array.from({ length: n }, (_, i) => i + 1),
          "seq +1 per entry, no gap, no repeat",
        );
        const show = (ms: Frame[]) => ms.map((m) => `${m.seq}:${(m.from as Frame).id}:${m.text}`);
        const want = expected.map((e) => `${e.seq}:${e.fromId}:${e.text}`);

        await entryAt(alice.client, n);
        assert.deepEqual(show(entriesOf(alice.client.frames)), want, "live, in seq order");
        assert.deepEqual(show(await folded(room)), want, "GET …/messages");
        const late = await signIn(room, "late");
        assert.deepEqual(show(late.welcome.messages as Frame[]), want, "a fresh welcome");
        assert.deepEqual(show(await resume()), want, "a resume");
        assert.deepEqual(show((await entries(room)).entries), want, "the entries API");
        for (const m of await folded(room)) {
          if ((m.from as Frame).id === bot.id) assert.deepEqual(m.from, bot);
        }
        await Promise.all([alice.client.close(), late.client.close()]);
      });

      it("api: DELETE makes a deleted entry by api, live; the text is '' everywhere; a dead seq is 404", async () => {
        const room = freshRoom("delete");
        const alice = await signIn(room, "alice");
        const resume = await away(room, "rex");
        const mine = await sayOk(alice, "my secret socket text");
        const { seq: botSeq } = await post(room, { text: "a secret from the bot", from: { name: "bot" } });

        for (const target of [mine, botSeq]) {
          const res = await call("DELETE", `/api/rooms/${room}/messages/${target}`);
          assert.equal(res.status, 200, res.text);
          const seq = res.json.seq as number;
          assert.deepEqual(res.json, { seq });
          const d = await entryAt(alice.client, seq);
          assert.equal(d.type, "deleted");
          assert.equal(d.target, target);
          assert.deepEqual(d.by, API_USER);
        }
        const f = await folded(room);
        for (const target of [mine, botSeq]) {
          const m = f.find((x) => x.seq === target);
          assert.equal(m?.text, "");
          assert.equal(m?.deleted, true);
        }
        const page = await entries(room);
        assert.deepEqual(
          page.entries.map((e) => `${e.seq}:${e.type}:${e.text ?? ""}`),
          [`${mine}:message:`, `${botSeq}:message:`, `${botSeq + 1}:deleted:`, `${botSeq + 2}:deleted:`],
        );
        const replay = await resume();
        assert.doesNotMatch(JSON.stringify(replay), /secret/, "a resume");
        assert.doesNotMatch(JSON.stringify(page), /secret/, "the entries API");

        // Deleted already, never a message, or never there: 404 not_found, and no entry.
        const seq = await roomSeq(room);
        for (const target of [mine, botSeq + 1, seq + 1, 999_999]) {
          await fails("DELETE", `/api/rooms/${room}/messages/${target}`, {}, 404, "not_found");
        }
        assert.equal(await roomSeq(room), seq);
        await alice.client.close();
      });
    });

    describe("moderation", () => {
      it("api: a ban by sub before the user ever joined: that user's join is 403 banned; unban lets them in", async () => {
        const room = freshRoom("preban");
        const watcher = await signIn(room, "watcher");
        const b = await moderate(room, { action: "ban", sub: "troll", reason: "known troll" });
        assert.equal(typeof b.seq, "number", JSON.stringify(b));
        const entry = await entryAt(watcher.client, b.seq);
        assert.equal(entry.type, "moderated");
        assert.equal(entry.action, "ban");
        assert.equal(entry.reason, "known troll");
        assert.deepEqual(entry.by, API_USER);
        const user = entry.user as Frame;
        assert.equal(user.sub, "troll");
        assert.equal(typeof user.id, "string");

        const token = await signToken({ sub: "troll", name: "Troll" });
        assert.deepEqual(await refusal(room, token), { upgrade: 403, status: 403, code: "banned" });
        // The same sub in another room is not banned there.
        const elsewhere = await signIn(freshRoom(), "troll");
        await elsewhere.client.close();

        const u = await moderate(room, { action: "unban", sub: "troll" });
        assert.equal(typeof u.seq, "number");
        const unban = await entryAt(watcher.client, u.seq);
        assert.equal(unban.action, "unban");
        assert.equal((unban.user as Frame).id, user.id);
        const back = await signIn(room, "troll", { name: "Troll" });
        assert.equal(back.you.id, user.id, "the sub got its user id at the ban, and keeps it");

        // An unban that changes nothing answers {} and makes no entry, by sub or by user id.
        const seq = await roomSeq(room);
        assert.deepEqual(await moderate(room, { action: "unban", sub: "troll" }), {});
        assert.deepEqual(await moderate(room, { action: "unban", user: user.id }), {});
        assert.equal(await roomSeq(room), seq);
        await Promise.all([watcher.client.close(), back.client.close()]);
      });

      it("api: kick closes every connection of the user 1008 kicked; by user id and by sub", async () => {
        const room = freshRoom("kick");
        const watcher = await signIn(room, "watcher");
        const bob1 = await signIn(room, "bob");
        const bob2 = await signIn(room, "bob");
        const k = await moderate(room, { action: "kick", user: bob1.you.id, reason: "cool off" });
        const entry = await entryAt(watcher.client, k.seq);
        assert.equal(entry.action, "kick");
        assert.deepEqual(entry.user, bob1.you);
        assert.equal(entry.reason, "cool off");
        assert.deepEqual(entry.by, API_USER);
        for (const b of [bob1, bob2]) assert.deepEqual(await closeOf(b, "the kick"), { code: 1008, reason: "kicked" });

        const carol = await signIn(room, "carol");
        const k2 = await moderate(room, { action: "kick", sub: "carol" });
        assert.deepEqual((await entryAt(watcher.client, k2.seq)).user, carol.you);
        assert.deepEqual(await closeOf(carol, "the kick by sub"), { code: 1008, reason: "kicked" });
        const back = await signIn(room, "bob");
        assert.deepEqual(back.you, bob1.you, "a kicked user may join again");
        await Promise.all([watcher.client.close(), back.client.close()]);
      });

      it("api: mute refuses the user's say with muted; unmute lets them speak; a second unmute is {}", async () => {
        const room = freshRoom("mute");
        const bob = await signIn(room, "bob");
        const m = await moderate(room, { action: "mute", user: bob.you.id, minutes: 5, reason: "calm" });
        const entry = await entryAt(bob.client, m.seq);
        assert.equal(entry.action, "mute");
        assert.deepEqual(entry.user, bob.you);
        assert.deepEqual(entry.by, API_USER);
        const until = entry.until as number;
        assert.ok(Math.abs(until - ((entry.ts as number) + 300_000)) < 2000, `until ${until}, ts ${entry.ts}`);

        bob.client.send(say("let me speak", "muted-say"));
        const err = await seen(bob.client, (f) => f.type === "error" && f.ref === "muted-say", "the refusal");
        assert.equal(err.code, "muted");
        assert.ok(
          (err.retryAfterMs as number) > 280_000 && (err.retryAfterMs as number) <= 300_000,
          JSON.stringify(err),
        );

        const u = await moderate(room, { action: "unmute", sub: "bob" });
        const un = await entryAt(bob.client, u.seq);
        assert.equal(un.action, "unmute");
        assert.deepEqual(un.user, bob.you);
        assert.equal(await sayOk(bob, "thanks"), u.seq + 1);
        assert.deepEqual(await moderate(room, { action: "unmute", sub: "bob" }), {});
        await bob.client.close();
      });

      it("api: an unknown user is 404 not_found; an unknown action or a mute without minutes is 400 bad_body", async () => {
        const room = freshRoom("modbad");
        const bob = await signIn(room, "bob");
        const path = `/api/rooms/${room}/moderation`;
        for (const action of ["kick", "ban", "unban", "unmute"]) {
          await fails("POST", path, { body: { action, user: "999999" } }, 404, "not_found");
        }
        await fails("POST", path, { body: { action: "mute", user: "999999", minutes: 1 } }, 404, "not_found");
        const bad: unknown[] = [
          { action: "slap", user: bob.you.id },
          { action: "mute", user: bob.you.id },
          { action: "mute", user: bob.you.id, minutes: "5" },
          { action: "mute", user: bob.you.id, minutes: 1.5 },
          { action: "mute", user: bob.you.id, minutes: -1 },
          { action: "ban", user: bob.you.id, minutes: 0 },
          { action: "kick" },
          { action: "kick", user: 5 },
          { action: "kick", sub: "" },
          { action: "kick", sub: "s".repeat(65) },
          { action: "kick", user: bob.you.id, reason: 7 },
          { user: bob.you.id },
          [],
          "not json",
          "",
        ];
        const seq = await roomSeq(room);
        for (const body of bad) await fails("POST", path, { body }, 400, "bad_body");
        assert.equal(await roomSeq(room), seq, "no entry");
        assert.equal(bob.client.ws.readyState, bob.client.ws.OPEN, "nobody was kicked");
        await bob.client.close();
      });
    });

    describe("bad input", () => {
      it("api: POST messages: bad bodies are 400 bad_body, too_long, bad_name; an unknown replyTo is 404", async () => {
        const room = freshRoom("badpost");
        const path = `/api/rooms/${room}/messages`;
        const { seq: first } = await post(room, { text: "x".repeat(MAX_TEXT), from: { name: "bot" } });
        const from = { name: "bot" };
        const cases: [unknown, string][] = [
          ["not json", "bad_body"],
          ["", "bad_body"],
          ["[]", "bad_body"],
          [{}, "bad_body"],
          [{ text: "hi" }, "bad_body"],
          [{ from }, "bad_body"],
          [{ text: 5, from }, "bad_body"],
          [{ text: "hi", from: "bot" }, "bad_body"],
          [{ text: "hi", from: {} }, "bad_body"],
          [{ text: "hi", from: { name: 5 } }, "bad_body"],
          [{ text: "hi", from: { name: "bot", sub: 5 } }, "bad_body"],
          [{ text: "hi", from: { name: "bot", sub: "" } }, "bad_body"],
          [{ text: "hi", from: { name: "bot", sub: "s".repeat(65) } }, "bad_body"],
          [{ text: "hi", from, replyTo: "1" }, "bad_body"],
          [{ text: "hi", from, replyTo: 1.5 }, "bad_body"],
          [{ text: "hi", from, ref: 5 }, "bad_body"],
          [{ text: "hi", from, ref: "r".repeat(65) }, "bad_body"],
          [{ text: "", from }, "bad_body"],
          [{ text: "   ", from }, "bad_body"],
          [{ text: "bell\u0007", from }, "bad_body"],
          [{ text: "x".repeat(MAX_TEXT + 1), from }, "too_long"],
          [{ text: "hi", from: { name: "   " } }, "bad_name"],
          [{ text: "hi", from: { name: "n".repeat(33) } }, "bad_name"],
          [{ text: "hi", from: { name: "bell\u0007" } }, "bad_name"],
          [{ text: "hi", from: { name: "evil\u202eman" } }, "bad_name"],
          [{ text: "hi", from: { name: "zero\u200bwidth" } }, "bad_name"],
        ];
        for (const [body, code] of cases) await fails("POST", path, { body }, 400, code);
        for (const replyTo of [first + 1, 999_999]) {
          await fails("POST", path, { body: { text: "hi", from, replyTo } }, 404, "not_found");
        }
        await remove(room, first);
        await fails("POST", path, { body: { text: "hi", from, replyTo: first } }, 404, "not_found");
        assert.equal(await roomSeq(room), first + 1, "only the delete made an entry");
      });

      it("api: a bad room is 400 bad_room and a bad seq or query 400 bad_query, on every endpoint", async () => {
        for (const room of ["bad.room", "a".repeat(65), "sp%20ace"]) {
          for (const e of endpoints(room)) await fails(e.method, e.path, { body: e.body }, 400, "bad_room");
        }
        const room = freshRoom("badq");
        for (const seq of ["abc", "-1", "1.5", "1e3"]) {
          await fails("DELETE", `/api/rooms/${room}/messages/${seq}`, {}, 400, "bad_query");
        }
        for (const q of ["limit=0", "limit=1001", "limit=abc", "limit=1.5", "after=-1", "after=abc", "after=1.5"]) {
          await fails("GET", `/api/rooms/${room}/entries?${q}`, {}, 400, "bad_query");
        }
      });
    });

    describe("entries", () => {
      it("api: entries pages with after and limit, oldest first; more says whether there is more", async () => {
        const room = freshRoom("entries");
        const empty = await entries(room);
        assert.deepEqual([empty.entries, empty.more], [[], false], "a room never written to has no entries");
        const alice = await signIn(room, "alice");
        const kinds: string[] = [];
        const m1 = await sayOk(alice, "one");
        kinds.push("message");
        alice.client.send({ type: "edit", target: m1, text: "one!", ref: "edit" });
        await seen(alice.client, (f) => f.type === "ack" && f.ref === "edit", "the edit's ack");
        kinds.push("edited");
        for (let i = 2; i <= 5; i++) {
          await post(room, { text: `api ${i}`, from: { name: "bot" } });
          kinds.push("message");
        }
        await moderate(room, { action: "mute", user: alice.you.id, minutes: 1 });
        kinds.push("moderated");
        const n = kinds.length;

        const all = await entries(room);
        assert.equal(all.more, false);
        assert.deepEqual(
          all.entries.map((e) => `${e.seq}:${e.type}`),
          kinds.map((k, i) => `${i + 1}:${k}`),
        );
        assert.equal(all.entries[0].text, "one!", "a message entry carries its current text");
        await entryAt(alice.client, n);
        assert.deepEqual(
          all.entries.map((e) => [e.seq, e.type, e.ts, (e.by as Frame).id]),
          entriesOf(alice.client.frames).map((e) => [e.seq, e.type, e.ts, (e.by as Frame).id]),
          "the same entries as live",
        );

        const page = await entries(room, "?after=2&limit=3");
        assert.deepEqual(
          page.entries.map((e) => e.seq),
          [3, 4, 5],
        );
        assert.equal(page.more, true);
        const rest = await entries(room, "?after=5&limit=3");
        assert.deepEqual(
          rest.entries.map((e) => e.seq),
          [6, 7],
        );
        assert.equal(rest.more, false);
        const exact = await entries(room, `?after=${n - 2}&limit=2`);
        assert.deepEqual(
          exact.entries.map((e) => e.seq),
          [n - 1, n],
        );
        assert.equal(exact.more, false, "a page that ends at the newest entry has no more");
        assert.deepEqual((await entries(room, `?after=${n}`)).entries, []);
        assert.deepEqual((await entries(room, "?after=1000")).entries, []);
        assert.deepEqual(
          (await entries(room, "?limit=1")).entries.map((e) => e.seq),
          [1],
          "after defaults to 0",
        );

        // Paging one at a time visits every entry once.
        const visited: number[] = [];
        let after = 0;
        for (let i = 0; i <= n; i++) {
          const p = await entries(room, `?after=${after}&limit=1`);
          visited.push(...p.entries.map((e) => e.seq as number));
          if (!p.more) break;
          after = p.entries[p.entries.length - 1].seq as number;
        }
        assert.deepEqual(
          visited,
          kinds.map((_, i) => i + 1),
        );
        await alice.client.close();
      });

      it("api: entries: the default limit is 100, at most 1000, and a page is cut at 256 KiB at its newest end", async () => {
        const room = freshRoom("bigpage");
        const small = 150;
        for (let i = 0; i < small; i += 10) {
          await Promise.all(
            Array.from({ length: 10 }, (_, k) => post(room, { text: `m${i + k}`, from: { name: "bot" } })),
          );
        }
        const first = await entries(room);
        assert.equal(first.entries.length, 100, "default limit");
        assert.equal(first.more, true);
        const whole = await entries(room, "?limit=1000");
        assert.equal(whole.entries.length, small);
        assert.equal(whole.more, false);

        // 40 messages of 8000 characters: about 320 KB of JSON, more than one page holds.
        const big = 40;
        for (let i = 0; i < big; i += 10) {
          await Promise.all(
            Array.from({ length: 10 }, (_, k) =>
              post(room, { text: `${i + k}:`.padEnd(MAX_TEXT, "x"), from: { name: "bot" } }),
            ),
          );
        }
        const total = small + big;
        const seen: number[] = [];
        let after = small;
        let pages = 0;
        for (; pages < 10; pages++) {
          const p = await entries(room, `?after=${after}&limit=1000`);
          assert.ok(p.bytes <= PAGE_BYTES, `a page of ${p.bytes} bytes`);
          assert.ok(p.entries.length > 0, "a page after an unread entry is never empty");
          assert.equal(p.entries[0].seq, after + 1, "the page starts right after `after`: it is cut at its newest end");
          seen.push(...p.entries.map((e) => e.seq as number));
          after = p.entries[p.entries.length - 1].seq as number;
          if (!p.more) break;
        }
        assert.ok(pages >= 1, "the 320 KB of entries did not fit one page");
        assert.deepEqual(
          seen,
          Array.from({ length: big }, (_, i) => small + i + 1),
          "the pages together hold every entry once",
        );
        assert.equal(after, total);
      });
    });
  });
}
