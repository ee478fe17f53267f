/**
 * The v2 part of the conformance suite: PROTOCOL-v2 sections 1–3 as docs/protocol.md ("Protocol v2: the
 * room log, signed users and moderation") specifies them, written once and run against a real server of
 * each runtime. Two shared servers (access optional, and access required) serve every test a fresh room;
 * the restart test starts its own.
 */
import assert from "node:assert/strict";
import { after, before, describe } from "node:test";
import { Client, type Frame, join } from "../helpers/client.ts";
import { freshRoom, fromAddress, nextAddress, say } from "../helpers/fixtures.ts";
import { type Runtime, testsWithTimeout } from "../helpers/runtimes.ts";
import { freePort, type RunningServer, startServer, tempDir } from "../helpers/server.ts";
import { expiredToken, signToken, TEST_JWT_SECRET, type TokenClaims, unsignedToken } from "../helpers/tokens.ts";
import { eventually, sleep, within } from "../helpers/wait.ts";

const V2 = ["parley.v2"];
const V1 = ["parley.v1"];
/** Entry types (PROTOCOL-v2 section 1). */
const ENTRY_KINDS = new Set(["message", "edited", "deleted", "reacted", "moderated"]);
const EDIT_WINDOW_MS = 2000;

// Every test acts from addresses of its own (X-Forwarded-For, trusted; CF-Connecting-IP on Workers). The
// tests send more frames per connection than a person would (twenty reactions in a row), so v1's rate
// bucket and section 5's frame budget are raised; the abuse suite tests those.
const BASE_ENV = {
  PARLEY_JWT_SECRET: TEST_JWT_SECRET,
  PARLEY_TRUST_PROXY: "1",
  PARLEY_RATE_BURST: "100000",
  PARLEY_RATE_PER_SEC: "100000",
  PARLEY_FRAME_BURST: "100000",
  PARLEY_FRAME_PER_SEC: "100000",
};
// No PARLEY_AUTH: with a key set, the default is `optional`.
const MAIN_ENV = { ...BASE_ENV, PARLEY_DB: ":memory:" };
// Access required, and an edit window short enough to pass in a test.
const STRICT_ENV = {
  ...BASE_ENV,
  PARLEY_DB: ":memory:",
  PARLEY_AUTH: "required",
  PARLEY_EDIT_WINDOW_MS: String(EDIT_WINDOW_MS),
};

type Query = Record<string, string | number | undefined>;

/** A connection that joined, with its `welcome` and its user. */
interface Joined {
  client: Client;
  welcome: Frame;
  you: Frame;
  /** The access token it joined with, if any. */
  token?: string;
}

interface EnterOptions {
  /** An access token, sent as `?access_token=`. */
  token?: string;
  query?: Query;
  /** The client address (default: a fresh one). */
  ip?: string;
  protocols?: string[];
  headers?: Record<string, string>;
  server?: RunningServer;
}

const idOf = (user: unknown) => (user as Frame).id as string;
const sorted = (xs: unknown) => [...(xs as string[])].sort();
const entriesOf = (frames: Frame[]) => frames.filter((f) => ENTRY_KINDS.has(f.type));

/** Register the v2 part for one runtime (inside `conformance(runtime)`). */
export function conformanceV2(runtime: Runtime): void {
  const it = testsWithTimeout(60_000);
  let main: RunningServer;
  let strict: RunningServer;
  const extra: RunningServer[] = [];
  const start = async (env: Record<string, string>) => startServer(() => runtime.command(env), env);

  const socketPath = (room: string, query: Query = {}) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) q.set(k, String(v));
    return `/rooms/${room}/ws${q.size ? `?${q}` : ""}`;
  };

  /** Join `room` offering parley.v2 (unless `protocols` says otherwise), from a fresh address. */
  const enter = async (room: string, o: EnterOptions = {}): Promise<Joined> => {
    const server = o.server ?? main;
    const url = server.wsUrl + socketPath(room, { ...o.query, access_token: o.token });
    const { client, welcome } = await join(url, {
      protocols: o.protocols ?? V2,
      headers: { ...fromAddress(o.ip ?? nextAddress()), ...o.headers },
    });
    return { client, welcome, you: welcome.you as Frame, token: o.token };
  };

  /** Join as a signed user: `claims`, or a sub that is also the name. */
  const signIn = async (room: string, claims: TokenClaims | string, o: EnterOptions = {}): Promise<Joined> => {
    const token = await signToken(typeof claims === "string" ? { sub: claims, name: claims } : claims);
    return enter(room, { ...o, token });
  };
  const moderator = (room: string, sub = "mod", o: EnterOptions = {}) =>
    signIn(room, { sub, name: sub, role: "moderator" }, o);

  /**
   * A handshake's outcome, bounded in time: the HTTP status of a refused upgrade, or 101 for one that
   * opened (closed again at once).
   */
  const handshake = async (url: string, headers: Record<string, string>, protocols = V2): Promise<number> => {
    const client = new Client(url, { protocols, headers });
    const opened = await within(
      client.opened.then(
        () => true,
        () => false,
      ),
      10_000,
      `the handshake of ${url}`,
    );
    if (opened) {
      await client.close();
      return 101;
    }
    await within(client.closed, 10_000, "the refused handshake's close");
    return client.status ?? 0;
  };

  /** How a socket URL answers: the upgrade's status, and the plain GET's status and error code. */
  const refusal = async (
    room: string,
    o: { server?: RunningServer; query?: Query; headers?: Record<string, string>; ip?: string; protocols?: string[] },
  ) => {
    const server = o.server ?? main;
    const path = socketPath(room, o.query);
    const headers = () => ({ ...fromAddress(o.ip ?? nextAddress()), ...o.headers });
    const upgrade = await handshake(server.wsUrl + path, headers(), o.protocols);
    const res = await fetch(server.url + path, { headers: headers() });
    const text = await res.text();
    let code: unknown;
    try {
      code = JSON.parse(text).error?.code;
    } catch {
      code = `<not JSON: ${text.slice(0, 80)}>`;
    }
    return { upgrade, status: res.status, code };
  };

  const getJson = async (path: string, server = main, token?: string) => {
    const res = await fetch(server.url + path, token ? { headers: { authorization: `Bearer ${token}` } } : undefined);
    const text = await res.text();
    return {
      status: res.status,
      text,
      json: res.headers.get("content-type")?.includes("json") ? JSON.parse(text) : {},
    };
  };
  /** The room's `seq`: the last entry committed. */
  const roomSeq = async (room: string, server = main, token?: string) => {
    const res = await getJson(`/api/rooms/${room}`, server, token);
    assert.equal(res.status, 200, res.text);
    return res.json.seq as number;
  };
  /** The folded messages of `GET /api/rooms/:room/messages`. */
  const folded = async (room: string, server = main, token?: string) => {
    const res = await getJson(`/api/rooms/${room}/messages?limit=100`, server, token);
    assert.equal(res.status, 200, res.text);
    return { messages: res.json.messages as Frame[], text: res.text };
  };
  const foldedOne = async (room: string, seq: unknown) => {
    const m = (await folded(room)).messages.find((x) => x.seq === seq);
    assert.ok(m, `message ${seq} is in the folded history`);
    return m;
  };

  /** The first frame `client` received, so far or within `ms`, that matches `pred`. Takes nothing from `next`. */
  const seen = async (client: Client, pred: (f: Frame) => boolean, what: string, ms = 5000): Promise<Frame> => {
    let found: Frame | undefined;
    await eventually(
      () => {
        found = client.frames.find(pred);
        return found !== undefined;
      },
      () => `${what}; last frames: ${JSON.stringify(client.frames.slice(-8))}`,
      ms,
    );
    return found as Frame;
  };
  /** The entry numbered `seq` as `client` got it. */
  const entryAt = (client: Client, seq: unknown) =>
    seen(client, (f) => ENTRY_KINDS.has(f.type) && f.seq === seq, `entry ${seq}`);

  let lastRef = 0;
  /** Send `frame` with a fresh `ref`; its answer is the `ack` or `error` that echoes that ref. */
  const act = async (client: Client, frame: Record<string, unknown>): Promise<Frame> => {
    const ref = `v2r${++lastRef}`;
    client.send({ ...frame, ref });
    return seen(client, (f) => (f.type === "ack" || f.type === "error") && f.ref === ref, `the answer to ${ref}`);
  };

  /**
   * `act`, for a frame that makes an entry of `kind`: the ack carries the entry's `seq` and comes right
   * after the entry, which carries the frame's `ref`.
   */
  const commit = async (client: Client, frame: Record<string, unknown>, kind: string) => {
    const ack = await act(client, frame);
    assert.equal(ack.type, "ack", `${JSON.stringify(frame)} was refused: ${JSON.stringify(ack)}`);
    assert.equal(typeof ack.seq, "number", `the ack of ${JSON.stringify(frame)} carries a seq`);
    const entry = client.frames[client.frames.indexOf(ack) - 1];
    assert.ok(entry, "an entry comes before its ack");
    assert.equal(entry.seq, ack.seq, `the ack comes right after its entry: ${JSON.stringify(entry)}`);
    assert.equal(entry.type, kind);
    assert.equal(entry.ref, ack.ref, "the entry carries the frame's ref");
    return { ack, entry, seq: ack.seq as number };
  };

  /** `act`, for a frame that changes nothing: acked with no `seq`, and the log does not move. */
  const noChange = async (client: Client, frame: Record<string, unknown>, room: string) => {
    const before = await roomSeq(room);
    const ack = await act(client, frame);
    assert.equal(ack.type, "ack", `${JSON.stringify(frame)} was refused: ${JSON.stringify(ack)}`);
    assert.equal("seq" in ack, false, `a frame that changes nothing is acked with no seq: ${JSON.stringify(ack)}`);
    assert.equal(await roomSeq(room), before, "it made no entry");
  };

  /**
   * `act`, for a frame the server must refuse with `code`: an error echoing the ref, no entry before it,
   * and the room's log where it was.
   */
  const refuse = async (
    client: Client,
    frame: Record<string, unknown>,
    code: string,
    room: string,
    server = main,
    token?: string,
  ) => {
    const before = await roomSeq(room, server, token);
    const from = client.frames.length;
    const err = await act(client, frame);
    assert.equal(err.type, "error", `${JSON.stringify(frame)} must be refused ${code}: got ${JSON.stringify(err)}`);
    assert.equal(err.code, code, `${JSON.stringify(frame)}: ${JSON.stringify(err)}`);
    assert.deepEqual(entriesOf(client.frames.slice(from)), [], "no entry was sent");
    assert.equal(await roomSeq(room, server, token), before, "a refused frame makes no entry");
    return err;
  };

  /** A history page by `client`: folded messages, or raw entries with `entries:true`. */
  const historyPage = (client: Client, frame: Record<string, unknown>) => {
    const ref = `v2h${++lastRef}`;
    client.send({ type: "history", ...frame, ref });
    return seen(client, (f) => f.type === "history" && f.ref === ref, `the history answer ${ref}`);
  };

  /**
   * A member who leaves now: `back()` resumes it (its reconnect token, `since` and `epoch`) and returns
   * what the resume replayed.
   */
  const away = async (room: string, o: EnterOptions = {}) => {
    const { client, welcome } = await enter(room, o);
    await client.close();
    return async () => {
      const back = await enter(room, {
        ...o,
        query: { token: welcome.token as string, since: welcome.seq as number, epoch: welcome.epoch as string },
      });
      assert.equal(back.welcome.resumed, true, "the resume is served");
      await back.client.close();
      return back.welcome.messages as Frame[];
    };
  };

  /**
   * A connection's close, bounded in time. Where the runtime keeps the TCP connection open after the
   * closing handshake (workerd, about 10 s), the client reports the close only then.
   */
  const closeOf = (j: Joined, what: string) =>
    within(j.client.closed, runtime.keepsTcpAfterClose ? 20_000 : 5000, what);

  describe("v2", () => {
    before(async () => {
      [main, strict] = await Promise.all([start(MAIN_ENV), start(STRICT_ENV)]);
    });
    after(async () => {
      await Promise.all([main, strict, ...extra].map((s) => s?.stop("SIGKILL")));
    });

    describe("subprotocol", () => {
      it("parley.v2 is selected when offered, also alongside parley.v1", async () => {
        const offers: [string[], string][] = [
          [["parley.v2"], "parley.v2"],
          [["parley.v1", "parley.v2"], "parley.v2"],
          [["parley.v2", "parley.v1"], "parley.v2"],
          [["foo", "parley.v2"], "parley.v2"],
          [["parley.v1"], "parley.v1"],
        ];
        for (const [offer, selected] of offers) {
          const { client } = await enter(freshRoom(), { protocols: offer });
          assert.equal(client.ws.protocol, selected, offer.join(", "));
          await client.close();
        }
      });

      it("a v1 connection gets message entries only, live, on resume and in history, and tolerates the gaps", async () => {
        const room = freshRoom();
        const alice = await signIn(room, "alice");
        const resumeV1 = await away(room, { protocols: V1 });
        const v1 = await enter(room, { protocols: V1 });
        assert.equal(v1.client.ws.protocol, "parley.v1");

        const m1 = await commit(alice.client, say("first"), "message");
        await commit(alice.client, { type: "edit", target: m1.seq, text: "first, edited" }, "edited");
        await commit(alice.client, { type: "react", target: m1.seq, emoji: "👍" }, "reacted");
        const m2 = await commit(alice.client, { type: "say", text: "second", replyTo: m1.seq }, "message");
        const m3 = await commit(alice.client, say("third"), "message");
        const del = await commit(alice.client, { type: "delete", target: m3.seq }, "deleted");

        // v1's own frames on the gapped log: its say is the next entry, and alice (v2) gets it.
        const mine = await act(v1.client, say("from v1"));
        assert.deepEqual(mine, { type: "ack", ref: mine.ref, seq: del.seq + 1 });
        const relayed = await entryAt(alice.client, del.seq + 1);
        assert.equal(relayed.type, "message");
        assert.equal(relayed.text, "from v1");

        const live = v1.client.frames.filter((f) => !["welcome", "joined", "left", "ack"].includes(f.type));
        assert.deepEqual(
          live.map((f) => `${f.type}:${f.seq}:${f.text}`),
          [
            `message:${m1.seq}:first`,
            `message:${m2.seq}:second`,
            `message:${m3.seq}:third`,
            `message:${del.seq + 1}:from v1`,
          ],
          "live, a v1 connection gets the message entries, as sent, and nothing else",
        );
        const expectFolded = [
          [m1.seq, "first, edited"],
          [m2.seq, "second"],
          [m3.seq, ""],
          [del.seq + 1, "from v1"],
        ].map(([seq, text]) => `message:${seq}:${text}`);

        const replay = await resumeV1();
        assert.deepEqual(
          replay.map((f) => `${f.type}:${f.seq}:${f.text}`),
          expectFolded,
          "a v1 resume replays message entries only, each with its current text",
        );
        const page = await historyPage(v1.client, { before: del.seq + 2 });
        assert.equal("entries" in page, false);
        assert.deepEqual(
          (page.messages as Frame[]).map((f) => `${f.type}:${f.seq}:${f.text}`),
          expectFolded,
          "a v1 history page is folded messages",
        );
        assert.equal((page.messages as Frame[])[2].deleted, true);
        assert.equal(v1.client.ws.readyState, v1.client.ws.OPEN, "the gaps did not close the v1 connection");
        await Promise.all([alice.client.close(), v1.client.close()]);
      });

      it("v1 frames work on a v2 connection: say, rename, typing, history, ping", async () => {
        const room = freshRoom();
        const a = await enter(room, { query: { name: "ann" } });
        const b = await enter(room);
        const m = await commit(a.client, say("hello"), "message");
        assert.deepEqual(m.entry.from, a.you);
        assert.deepEqual(m.entry.by, a.you);
        assert.equal((await entryAt(b.client, m.seq)).text, "hello");

        a.client.send({ type: "rename", name: "anna" });
        for (const c of [a, b]) {
          const r = await seen(c.client, (f) => f.type === "renamed", "renamed");
          assert.deepEqual(r, { type: "renamed", user: { ...a.you, name: "anna" }, from: "ann" });
        }
        a.client.send({ type: "typing" });
        assert.equal(idOf((await seen(b.client, (f) => f.type === "typing", "typing")).user), idOf(a.you));

        const page = await historyPage(a.client, { before: m.seq + 1 });
        assert.equal("entries" in page, false, "without entries:true, history is folded messages");
        assert.deepEqual(
          (page.messages as Frame[]).map((x) => x.text),
          ["hello"],
        );
        a.client.send({ type: "ping", ref: "p1" });
        assert.deepEqual(await seen(a.client, (f) => f.type === "pong", "pong"), { type: "pong", ref: "p1" });
        await Promise.all([a.client.close(), b.client.close()]);
      });
    });

    describe("entries", () => {
      it("message: a reply carries replyTo, live to every v2 member, on resume and folded", async () => {
        const room = freshRoom();
        const alice = await signIn(room, "alice");
        const bob = await signIn(room, "bob");
        const guest = await enter(room);
        const resume = await away(room);
        const q = await commit(alice.client, say("question"), "message");
        const a = await commit(bob.client, { type: "say", text: "answer", replyTo: q.seq }, "message");
        assert.equal(a.seq, q.seq + 1);
        assert.equal(a.entry.replyTo, q.seq);
        assert.equal(a.entry.text, "answer");
        assert.deepEqual(a.entry.by, bob.you);
        assert.deepEqual(a.entry.from, bob.you);
        for (const c of [alice, guest]) assert.deepEqual(await entryAt(c.client, a.seq), a.entry);

        const f = await foldedOne(room, a.seq);
        assert.equal(f.replyTo, q.seq);
        assert.equal(f.text, "answer");
        const late = await enter(room);
        const inWelcome = (late.welcome.messages as Frame[]).find((x) => x.seq === a.seq);
        assert.equal(inWelcome?.replyTo, q.seq, "a fresh welcome folds the reply too");
        const replay = await resume();
        assert.deepEqual(
          replay.map((x) => [x.type, x.seq, x.replyTo]),
          [
            ["message", q.seq, undefined],
            ["message", a.seq, q.seq],
          ],
        );
        await Promise.all([alice, bob, guest, late].map((j) => j.client.close()));
      });

      it("edited: only the author edits; everyone gets the entry; the folded message has the new text", async () => {
        const room = freshRoom();
        const alice = await signIn(room, "alice");
        const bob = await signIn(room, "bob");
        const resume = await away(room);
        const m = await commit(alice.client, say("helo wrld"), "message");
        await refuse(bob.client, { type: "edit", target: m.seq, text: "hijacked" }, "forbidden", room);
        await refuse(alice.client, { type: "edit", target: m.seq, text: "   " }, "bad_frame", room);
        await refuse(alice.client, { type: "edit", target: m.seq, text: "x".repeat(2001) }, "too_long", room);

        const e = await commit(alice.client, { type: "edit", target: m.seq, text: "hello world" }, "edited");
        assert.equal(e.seq, m.seq + 1);
        assert.equal(e.entry.target, m.seq);
        assert.equal(e.entry.text, "hello world");
        assert.deepEqual(e.entry.by, alice.you);
        assert.deepEqual(await entryAt(bob.client, e.seq), e.entry);

        const f = await foldedOne(room, m.seq);
        assert.equal(f.text, "hello world");
        assert.equal(f.edited, e.entry.ts, "edited is the time of the edit");
        const late = await enter(room);
        const w = (late.welcome.messages as Frame[]).find((x) => x.seq === m.seq);
        assert.deepEqual(w, f, "a fresh welcome folds as the HTTP history does");
        const page = await historyPage(bob.client, { before: e.seq + 1 });
        assert.deepEqual(page.messages, [f], "so does a history page");

        const replay = await resume();
        assert.deepEqual(
          replay.map((x) => [x.type, x.seq, x.text]),
          [
            ["message", m.seq, "hello world"],
            ["edited", e.seq, "hello world"],
          ],
          "a resume replays the edit; the message entry carries its current text",
        );
        await Promise.all([alice, bob, late].map((j) => j.client.close()));
      });

      it("deleted: the text is served nowhere again, not even an earlier edit's", async () => {
        const room = freshRoom();
        const alice = await signIn(room, "alice");
        const bob = await signIn(room, "bob");
        const resume = await away(room);
        const m = await commit(alice.client, say("my secret"), "message");
        const e = await commit(alice.client, { type: "edit", target: m.seq, text: "my secret, edited" }, "edited");
        const d = await commit(alice.client, { type: "delete", target: m.seq }, "deleted");
        assert.equal(d.seq, e.seq + 1);
        assert.equal(d.entry.target, m.seq);
        assert.deepEqual(d.entry.by, alice.you);
        assert.deepEqual(await entryAt(bob.client, d.seq), d.entry);

        const http = await folded(room);
        const f = http.messages.find((x) => x.seq === m.seq);
        assert.equal(f?.text, "");
        assert.equal(f?.deleted, true);
        assert.doesNotMatch(http.text, /secret/, "GET …/messages");

        const late = await enter(room);
        const w = (late.welcome.messages as Frame[]).find((x) => x.seq === m.seq);
        assert.equal(w?.text, "");
        assert.equal(w?.deleted, true);
        assert.doesNotMatch(JSON.stringify(late.welcome), /secret/, "a fresh welcome");

        const raw = await historyPage(bob.client, { before: d.seq + 1, entries: true });
        assert.deepEqual(
          (raw.entries as Frame[]).map((x) => [x.type, x.seq, x.text]),
          [
            ["message", m.seq, ""],
            ["edited", e.seq, ""],
            ["deleted", d.seq, undefined],
          ],
        );
        assert.doesNotMatch(JSON.stringify(raw), /secret/, "an entries page");
        const foldedPage = await historyPage(bob.client, { before: d.seq + 1 });
        assert.doesNotMatch(JSON.stringify(foldedPage), /secret/, "a history page");

        const replay = await resume();
        assert.deepEqual(
          replay.map((x) => [x.type, x.seq, x.text]),
          [
            ["message", m.seq, ""],
            ["edited", e.seq, ""],
            ["deleted", d.seq, undefined],
          ],
        );
        assert.doesNotMatch(JSON.stringify(replay), /secret/, "a resume");
        await Promise.all([alice, bob, late].map((j) => j.client.close()));
      });

      it("reacted: on and off, counted in the folded reactions; a reaction that changes nothing is acked with no seq", async () => {
        const room = freshRoom();
        const alice = await signIn(room, "alice");
        const bob = await signIn(room, "bob");
        const guest = await enter(room);
        const resume = await away(room);
        const m = await commit(alice.client, say("react to me"), "message");

        const r1 = await commit(bob.client, { type: "react", target: m.seq, emoji: "👍" }, "reacted");
        assert.equal(r1.entry.target, m.seq);
        assert.equal(r1.entry.emoji, "👍");
        assert.equal(r1.entry.on, true, "on defaults to true");
        assert.deepEqual(r1.entry.by, bob.you);
        for (const c of [alice, guest]) assert.deepEqual(await entryAt(c.client, r1.seq), r1.entry);
        await noChange(bob.client, { type: "react", target: m.seq, emoji: "👍" }, room);
        const r2 = await commit(alice.client, { type: "react", target: m.seq, emoji: "👍", on: true }, "reacted");
        const r3 = await commit(guest.client, { type: "react", target: m.seq, emoji: "🎉" }, "reacted");
        assert.deepEqual([r2.seq, r3.seq], [r1.seq + 1, r1.seq + 2], "the repeat made no entry");

        let f = await foldedOne(room, m.seq);
        assert.deepEqual(Object.keys(f.reactions as object).sort(), ["🎉", "👍"].sort());
        assert.deepEqual(sorted((f.reactions as Frame)["👍"]), sorted([idOf(alice.you), idOf(bob.you)]));
        assert.deepEqual((f.reactions as Frame)["🎉"], [idOf(guest.you)]);

        const off = await commit(bob.client, { type: "react", target: m.seq, emoji: "👍", on: false }, "reacted");
        assert.equal(off.entry.on, false);
        assert.deepEqual(await entryAt(alice.client, off.seq), off.entry);
        await noChange(bob.client, { type: "react", target: m.seq, emoji: "👍", on: false }, room);
        f = await foldedOne(room, m.seq);
        assert.deepEqual(f.reactions, { "👍": [idOf(alice.you)], "🎉": [idOf(guest.you)] });

        await commit(alice.client, { type: "react", target: m.seq, emoji: "👍", on: false }, "reacted");
        await commit(guest.client, { type: "react", target: m.seq, emoji: "🎉", on: false }, "reacted");
        f = await foldedOne(room, m.seq);
        assert.equal(f.reactions, undefined, `no reactions left: ${JSON.stringify(f)}`);

        const replay = await resume();
        assert.deepEqual(
          replay.map((x) => `${x.type}:${x.emoji ?? ""}:${x.on ?? ""}`),
          [
            "message::",
            "reacted:👍:true",
            "reacted:👍:true",
            "reacted:🎉:true",
            "reacted:👍:false",
            "reacted:👍:false",
            "reacted:🎉:false",
          ],
        );
        await Promise.all([alice, bob, guest].map((j) => j.client.close()));
      });

      it("reactions: at most 20 distinct emoji per message; a bad emoji is bad_frame", async () => {
        const room = freshRoom();
        const alice = await signIn(room, "alice");
        const m = await commit(alice.client, say("popular"), "message");
        const emoji = [..."😀😁😂🤣😃😄😅😆😉😊😋😎😍😘🥰😗😙😚🙂🤗🤩"];
        assert.equal(emoji.length, 21);
        for (const e of emoji.slice(0, 20))
          await commit(alice.client, { type: "react", target: m.seq, emoji: e }, "reacted");
        await refuse(alice.client, { type: "react", target: m.seq, emoji: emoji[20] }, "bad_frame", room);
        assert.equal(Object.keys((await foldedOne(room, m.seq)).reactions as object).length, 20);

        const n = await commit(alice.client, say("picky"), "message");
        for (const bad of ["", "a b", "🦊".repeat(17), "x\u0007", "\u200b\t"]) {
          await refuse(alice.client, { type: "react", target: n.seq, emoji: bad }, "bad_frame", room);
        }
        // 16 code points (32 UTF-16 units) is the longest emoji.
        await commit(alice.client, { type: "react", target: n.seq, emoji: "🦊".repeat(16) }, "reacted");
        await alice.client.close();
      });

      it("every entry goes to every v2 member, the actor included, with by, and seq +1 each", async () => {
        const room = freshRoom();
        const mod = await moderator(room);
        const alice = await signIn(room, "alice");
        const bob = await signIn(room, { sub: "bob", name: "Bob", role: "member" });
        const guest = await enter(room);
        assert.equal(mod.you.role, "moderator");
        assert.equal(mod.you.sub, "mod");
        assert.deepEqual(bob.you, { id: bob.you.id, name: "Bob", sub: "bob" }, "a member's User has no role");
        assert.equal(guest.you.sub, undefined, "an anonymous user has no sub");

        const done: { by: Frame; seq: number }[] = [];
        const step = async (j: Joined, frame: Record<string, unknown>, kind: string) => {
          const c = await commit(j.client, frame, kind);
          assert.deepEqual(c.entry.by, j.you, `by of ${kind}`);
          done.push({ by: j.you, seq: c.seq });
          return c;
        };
        const m1 = await step(alice, say("one"), "message");
        const m2 = await step(bob, { type: "say", text: "two", replyTo: m1.seq }, "message");
        await step(alice, { type: "edit", target: m1.seq, text: "one!" }, "edited");
        await step(guest, { type: "react", target: m2.seq, emoji: "❤️" }, "reacted");
        await step(guest, { type: "react", target: m2.seq, emoji: "❤️", on: false }, "reacted");
        const mute = await step(mod, { type: "mute", user: idOf(bob.you), minutes: 5 }, "moderated");
        assert.equal(mute.entry.action, "mute");
        assert.deepEqual(mute.entry.user, bob.you);
        const unmute = await step(mod, { type: "mute", user: idOf(bob.you), minutes: 0 }, "moderated");
        assert.equal(unmute.entry.action, "unmute");
        await step(bob, { type: "delete", target: m2.seq }, "deleted");

        const seqs = done.map((d) => d.seq);
        assert.deepEqual(
          seqs,
          seqs.map((_, i) => seqs[0] + i),
          "seq rises by exactly 1 per entry",
        );
        const last = seqs[seqs.length - 1];
        for (const j of [mod, alice, bob, guest]) await entryAt(j.client, last);
        const views = [mod, alice, bob, guest].map((j) => entriesOf(j.client.frames));
        for (const view of views) {
          assert.deepEqual(
            view.map((f) => f.seq),
            seqs,
          );
          assert.deepEqual(view, views[0], "every member got the same entries, in the same order");
        }
        assert.equal(await roomSeq(room), last);
        await Promise.all([mod, alice, bob, guest].map((j) => j.client.close()));
      });

      it("history with entries:true pages raw entries, oldest first", async () => {
        const room = freshRoom();
        const alice = await signIn(room, "alice");
        const a = await commit(alice.client, say("a"), "message");
        assert.equal(a.seq, 1, "a fresh room's log starts at 1");
        await commit(alice.client, { type: "edit", target: a.seq, text: "a2" }, "edited");
        await commit(alice.client, { type: "react", target: a.seq, emoji: "👀" }, "reacted");
        const b = await commit(alice.client, say("b"), "message");
        const d = await commit(alice.client, { type: "delete", target: b.seq }, "deleted");

        const newest = await historyPage(alice.client, { before: d.seq + 1, limit: 3, entries: true });
        assert.equal("messages" in newest, false, "entries in place of messages");
        assert.deepEqual(
          (newest.entries as Frame[]).map((x) => `${x.seq}:${x.type}`),
          ["3:reacted", "4:message", "5:deleted"],
        );
        assert.equal(newest.more, true);
        const oldest = await historyPage(alice.client, { before: 3, limit: 3, entries: true });
        assert.deepEqual(
          (oldest.entries as Frame[]).map((x) => `${x.seq}:${x.type}:${x.text}`),
          ["1:message:a2", "2:edited:a2"],
        );
        assert.equal(oldest.more, false);
        for (const x of [...(newest.entries as Frame[]), ...(oldest.entries as Frame[])]) {
          assert.deepEqual(x.by, alice.you);
        }
        const foldedPage = await historyPage(alice.client, { before: 6 });
        assert.deepEqual(
          (foldedPage.messages as Frame[]).map((x) => `${x.seq}:${x.text}:${x.deleted ?? ""}`),
          ["1:a2:", "4::true"],
        );
        await alice.client.close();
      });

      it("a resume of a v2 client replays every kind, in order", async () => {
        const room = freshRoom();
        const mod = await moderator(room);
        const alice = await signIn(room, "alice");
        const bob = await signIn(room, "bob");
        const carol = await signIn(room, "carol");
        const dave = await signIn(room, "dave");
        const resume = await away(room);

        const m1 = await commit(alice.client, say("m1"), "message");
        const m2 = await commit(bob.client, { type: "say", text: "m2", replyTo: m1.seq }, "message");
        await commit(alice.client, { type: "edit", target: m1.seq, text: "m1 edited" }, "edited");
        await commit(bob.client, { type: "react", target: m1.seq, emoji: "✅" }, "reacted");
        await commit(bob.client, { type: "delete", target: m2.seq }, "deleted");
        await commit(mod.client, { type: "mute", user: idOf(bob.you), minutes: 1 }, "moderated");
        await commit(mod.client, { type: "mute", user: idOf(bob.you), minutes: 0 }, "moderated");
        await commit(mod.client, { type: "ban", user: idOf(carol.you) }, "moderated");
        await commit(mod.client, { type: "unban", user: idOf(carol.you) }, "moderated");
        const last = await commit(mod.client, { type: "kick", user: idOf(dave.you), reason: "bye" }, "moderated");

        await entryAt(alice.client, last.seq);
        const live = entriesOf(alice.client.frames);
        const replay = await resume();
        assert.deepEqual(
          replay.map((x) => `${x.type}${x.action ? `:${x.action}` : ""}`),
          [
            "message",
            "message",
            "edited",
            "reacted",
            "deleted",
            "moderated:mute",
            "moderated:unmute",
            "moderated:ban",
            "moderated:unban",
            "moderated:kick",
          ],
        );
        assert.deepEqual(
          replay.map((x) => x.seq),
          live.map((x) => x.seq),
        );
        // As live, except that a message entry carries its message's current text (and may carry the
        // rest of its folded state).
        const current: Record<number, string> = { [m1.seq]: "m1 edited", [m2.seq]: "" };
        for (const [i, x] of live.entries()) {
          if (x.type !== "message") assert.deepEqual(replay[i], x);
          else {
            const expected = { ...x, text: current[x.seq as number] };
            const got = Object.fromEntries(Object.keys(expected).map((k) => [k, replay[i][k]]));
            assert.deepEqual(got, expected);
          }
        }
        await Promise.all([mod, alice, bob].map((j) => j.client.close()));
      });
    });

    describe("refusals change nothing", () => {
      it("not_found: a target that is not a message, a deleted one, an unknown replyTo or user", async () => {
        const room = freshRoom();
        const mod = await moderator(room);
        const alice = await signIn(room, "alice");
        const bob = await signIn(room, "bob");
        const m = await commit(alice.client, say("here"), "message");
        const r = await commit(bob.client, { type: "react", target: m.seq, emoji: "👍" }, "reacted");
        const gone = await commit(alice.client, say("gone"), "message");
        await commit(alice.client, { type: "delete", target: gone.seq }, "deleted");
        const cases: [Joined, Record<string, unknown>][] = [
          [alice, { type: "edit", target: r.seq, text: "x" }],
          [bob, { type: "react", target: r.seq, emoji: "👍" }],
          [alice, { type: "delete", target: r.seq }],
          [alice, { type: "say", text: "re", replyTo: r.seq }],
          [alice, { type: "edit", target: 9999, text: "x" }],
          [bob, { type: "react", target: 9999, emoji: "👍" }],
          [alice, { type: "say", text: "re", replyTo: 9999 }],
          [alice, { type: "edit", target: gone.seq, text: "back" }],
          [bob, { type: "react", target: gone.seq, emoji: "👍" }],
          [alice, { type: "say", text: "re", replyTo: gone.seq }],
          [alice, { type: "delete", target: gone.seq }],
          [mod, { type: "kick", user: "no-such-user" }],
          [mod, { type: "ban", user: "no-such-user" }],
          [mod, { type: "mute", user: "no-such-user", minutes: 5 }],
        ];
        for (const [j, frame] of cases) await refuse(j.client, frame, "not_found", room);
        const f = await foldedOne(room, m.seq);
        assert.equal(f.text, "here");
        assert.deepEqual(f.reactions, { "👍": [idOf(bob.you)] });
        await Promise.all([mod, alice, bob].map((j) => j.client.close()));
      });

      it("forbidden: editing or deleting someone else's message", async () => {
        const room = freshRoom();
        const alice = await signIn(room, "alice");
        const bob = await signIn(room, "bob");
        const guest = await enter(room);
        const m = await commit(alice.client, say("mine"), "message");
        for (const j of [bob, guest]) {
          await refuse(j.client, { type: "edit", target: m.seq, text: "theirs" }, "forbidden", room);
          await refuse(j.client, { type: "delete", target: m.seq }, "forbidden", room);
        }
        const f = await foldedOne(room, m.seq);
        assert.equal(f.text, "mine");
        assert.equal(f.edited, undefined);
        assert.equal(f.deleted, undefined);
        await Promise.all([alice, bob, guest].map((j) => j.client.close()));
      });

      it("forbidden: an edit past PARLEY_EDIT_WINDOW_MS", async () => {
        const room = freshRoom();
        const token = await signToken({ sub: "alice" });
        const alice = await enter(room, { server: strict, token });
        const m = await commit(alice.client, say("quick"), "message");
        await commit(alice.client, { type: "edit", target: m.seq, text: "quick fix" }, "edited");
        await sleep(EDIT_WINDOW_MS + 300);
        await refuse(alice.client, { type: "edit", target: m.seq, text: "too late" }, "forbidden", room, strict, token);
        await alice.client.close();
      });
    });

    describe("access tokens", () => {
      const UNAUTHORIZED = { upgrade: 401, status: 401, code: "unauthorized" };

      it("PARLEY_AUTH=required: no token is 401 on the upgrade, its plain GET and the HTTP reads", async () => {
        const room = freshRoom();
        assert.deepEqual(await refusal(room, { server: strict }), UNAUTHORIZED);
        assert.deepEqual(await refusal(room, { server: strict, protocols: V1 }), UNAUTHORIZED, "a v1 client too");
        for (const path of [`/api/rooms/${room}`, `/api/rooms/${room}/messages`]) {
          const res = await getJson(path, strict);
          assert.equal(res.status, 401, path);
          assert.equal(res.json.error?.code, "unauthorized", path);
        }
        const token = await signToken({ sub: "alice" });
        assert.deepEqual(
          await refusal(room, { server: strict, query: { access_token: token } }),
          { upgrade: 101, status: 426, code: "upgrade_required" },
          "a valid token passes every check",
        );
        for (const path of [`/api/rooms/${room}`, `/api/rooms/${room}/messages`]) {
          assert.equal((await getJson(path, strict, token)).status, 200, `${path} with a token`);
        }
        assert.equal((await getJson("/healthz", strict)).status, 200, "/healthz is public");
      });

      it("a bad signature, an expired or not yet valid token, alg none, bad claims: 401 in optional mode too", async () => {
        const room = freshRoom();
        const alice = { sub: "alice", name: "alice" };
        const bad = [
          await signToken(alice, { secret: "another-secret-that-is-long-enough-000" }),
          await expiredToken(alice),
          await signToken(alice, { notBefore: "10m" }),
          unsignedToken(alice),
          "not-a-jwt",
          // Claims outside the rules: sub 1–64 characters, a name by the name rules.
          await signToken({ sub: "" }),
          await signToken({ sub: "x".repeat(65) }),
          await signToken({ sub: "alice", name: "x".repeat(33) }),
          await signToken({ sub: "alice", name: "bad\u0000name" }),
        ];
        for (const server of [main, strict]) {
          for (const [i, token] of bad.entries()) {
            const where = `${server === main ? "optional" : "required"}: bad token #${i}`;
            assert.deepEqual(await refusal(room, { server, query: { access_token: token } }), UNAUTHORIZED, where);
            assert.deepEqual(
              await refusal(room, { server, headers: { authorization: `Bearer ${token}` } }),
              UNAUTHORIZED,
              `${where} (Bearer)`,
            );
          }
        }
      });

      it("Authorization: Bearer on the upgrade signs the user in; the name defaults to the sub", async () => {
        const room = freshRoom();
        for (const server of [main, strict]) {
          const token = await signToken({ sub: "bearer-user" });
          const j = await enter(room, { server, headers: { authorization: `Bearer ${token}` } });
          assert.deepEqual(j.you, { id: j.you.id, name: "bearer-user", sub: "bearer-user" });
          await j.client.close();
        }
      });

      it("a room the token does not grant is 403 forbidden; exact names and prefixes grant", async () => {
        const team = freshRoom("team");
        const exact = freshRoom("exact");
        const other = freshRoom("other");
        const token = await signToken({ sub: "alice", rooms: ["team-*", exact] });
        for (const server of [main, strict]) {
          for (const room of [team, exact]) {
            const j = await enter(room, { server, token });
            assert.equal(j.you.sub, "alice");
            await j.client.close();
          }
          for (const room of [other, `${exact}x`]) {
            assert.deepEqual(await refusal(room, { server, query: { access_token: token } }), {
              upgrade: 403,
              status: 403,
              code: "forbidden",
            });
          }
        }
      });

      it("check order: room 400, origin 403, access 401, then the room grant 403", async () => {
        const other = freshRoom("other");
        const narrow = await signToken({ sub: "alice", rooms: ["team-*"] });
        const expired = await expiredToken({ sub: "alice", rooms: ["team-*"] });
        const evil = { origin: "http://evil.example" };
        assert.deepEqual(await refusal("bad.room", { server: strict, headers: evil }), {
          upgrade: 400,
          status: 400,
          code: "bad_room",
        });
        assert.deepEqual(await refusal(other, { server: strict, headers: evil }), {
          upgrade: 403,
          status: 403,
          code: "forbidden_origin",
        });
        assert.deepEqual(await refusal(other, { server: strict, query: { access_token: expired } }), UNAUTHORIZED);
        assert.deepEqual(await refusal(other, { server: strict, query: { access_token: narrow } }), {
          upgrade: 403,
          status: 403,
          code: "forbidden",
        });
      });

      it("an anonymous connection with a signed user's reconnect token is 401", async () => {
        const room = freshRoom();
        const alice = await signIn(room, "alice");
        await alice.client.close();
        assert.deepEqual(await refusal(room, { query: { token: alice.welcome.token as string } }), UNAUTHORIZED);
        // Alice herself resumes with her access token and her reconnect token.
        const back = await enter(room, {
          token: alice.token,
          query: {
            token: alice.welcome.token as string,
            since: alice.welcome.seq as number,
            epoch: alice.welcome.epoch as string,
          },
        });
        assert.deepEqual(back.you, alice.you);
        assert.equal(back.welcome.resumed, true);
        // An anonymous user's own token still restores them (v1).
        const guest = await enter(room);
        await guest.client.close();
        const again = await enter(room, { query: { token: guest.welcome.token as string } });
        assert.deepEqual(again.you, guest.you);
        await Promise.all([back.client.close(), again.client.close()]);
      });
    });

    describe("signed users", () => {
      it("the same sub is one user on two devices at once; the token's name wins over ?name=", async () => {
        const room = freshRoom();
        const guest = await enter(room);
        const d1 = await signIn(room, { sub: "alice", name: "Alice" });
        assert.deepEqual(d1.you, { id: d1.you.id, name: "Alice", sub: "alice" });
        assert.deepEqual((await seen(guest.client, (f) => f.type === "joined", "joined")).user, d1.you);
        // Another device: another token for the same sub, another address, another ?name=.
        const d2 = await signIn(room, { sub: "alice", name: "Alice" }, { query: { name: "Mallory" } });
        assert.deepEqual(d2.you, d1.you);
        assert.deepEqual(
          (d2.welcome.members as Frame[]).filter((u) => u.sub === "alice"),
          [d1.you],
          "one member in members",
        );
        const info = await getJson(`/api/rooms/${room}`);
        assert.deepEqual(
          (info.json.members as Frame[]).filter((u) => u.sub === "alice"),
          [d1.you],
        );
        await sleep(300);
        assert.equal(guest.client.frames.filter((f) => f.type === "joined").length, 1, "joined once");
        await d1.client.close();
        assert.deepEqual(await guest.client.quiet(300, "left"), [], "alice is still here on her other device");
        await d2.client.close();
        assert.deepEqual((await seen(guest.client, (f) => f.type === "left", "left")).user, d1.you);
        await guest.client.close();
      });

      it("rename from a signed user is forbidden, and changes nothing", async () => {
        const room = freshRoom();
        const alice = await signIn(room, { sub: "alice", name: "Alice" });
        const guest = await enter(room);
        const err = await act(alice.client, { type: "rename", name: "Mallory" });
        assert.equal(err.type, "error");
        assert.equal(err.code, "forbidden");
        assert.deepEqual(await guest.client.quiet(300, "renamed"), []);
        const info = await getJson(`/api/rooms/${room}`);
        assert.deepEqual(
          (info.json.members as Frame[]).find((u) => u.id === alice.you.id),
          alice.you,
        );
        await Promise.all([alice.client.close(), guest.client.close()]);
      });
    });

    describe("moderation", () => {
      it("kick: every connection of the user closes 1008 kicked; everyone sees it; they may join again", async () => {
        const room = freshRoom();
        const mod = await moderator(room);
        const guest = await enter(room);
        const bob1 = await signIn(room, "bob");
        const bob2 = await signIn(room, "bob");
        const k = await commit(mod.client, { type: "kick", user: idOf(bob1.you), reason: "cool off" }, "moderated");
        assert.equal(k.entry.action, "kick");
        assert.deepEqual(k.entry.user, bob1.you);
        assert.equal(k.entry.reason, "cool off");
        assert.equal(k.entry.until, undefined);
        assert.deepEqual(k.entry.by, mod.you);
        assert.deepEqual(await entryAt(guest.client, k.seq), k.entry);
        for (const b of [bob1, bob2]) assert.deepEqual(await closeOf(b, "the kick"), { code: 1008, reason: "kicked" });
        assert.deepEqual((await seen(guest.client, (f) => f.type === "left", "left")).user, bob1.you);
        const back = await signIn(room, "bob");
        assert.deepEqual(back.you, bob1.you);
        await commit(back.client, say("I'm back"), "message");
        await Promise.all([mod, guest, back].map((j) => j.client.close()));
      });

      it("ban: closes 1008 banned, joins are 403 banned until unban; an unban of nobody changes nothing", async () => {
        const room = freshRoom();
        const mod = await moderator(room);
        const guest = await enter(room);
        const bob = await signIn(room, "bob");
        const b = await commit(mod.client, { type: "ban", user: idOf(bob.you), reason: "spam" }, "moderated");
        assert.equal(b.entry.action, "ban");
        assert.deepEqual(b.entry.user, bob.you);
        assert.equal(b.entry.reason, "spam");
        assert.equal(b.entry.until, undefined, "no minutes: until unban");
        assert.deepEqual(await entryAt(guest.client, b.seq), b.entry);
        assert.deepEqual(await closeOf(bob, "the ban"), { code: 1008, reason: "banned" });

        const BANNED = { upgrade: 403, status: 403, code: "banned" };
        assert.deepEqual(await refusal(room, { query: { access_token: bob.token } }), BANNED);
        const otherDevice = await signToken({ sub: "bob", name: "Robert" });
        assert.deepEqual(await refusal(room, { query: { access_token: otherDevice } }), BANNED, "banned by sub");
        const elsewhere = await signIn(freshRoom(), "bob");
        await elsewhere.client.close();

        const u = await commit(mod.client, { type: "unban", user: idOf(bob.you) }, "moderated");
        assert.equal(u.entry.action, "unban");
        assert.deepEqual(u.entry.user, bob.you);
        const back = await signIn(room, "bob");
        assert.deepEqual(back.you, bob.you);
        await noChange(mod.client, { type: "unban", user: idOf(bob.you) }, room);
        await Promise.all([mod, guest, back].map((j) => j.client.close()));
      });

      it("ban with minutes carries until; minutes outside 1–525600 are bad_frame", async () => {
        const room = freshRoom();
        const mod = await moderator(room);
        const bob = await signIn(room, "bob");
        for (const minutes of [0, 525_601, 1.5, "5"]) {
          await refuse(mod.client, { type: "ban", user: idOf(bob.you), minutes }, "bad_frame", room);
        }
        const b = await commit(mod.client, { type: "ban", user: idOf(bob.you), minutes: 2 }, "moderated");
        const until = b.entry.until as number;
        assert.ok(Math.abs(until - ((b.entry.ts as number) + 120_000)) < 2000, `until ${until}, ts ${b.entry.ts}`);
        assert.deepEqual(await refusal(room, { query: { access_token: bob.token } }), {
          upgrade: 403,
          status: 403,
          code: "banned",
        });
        await mod.client.close();
      });

      it("mute: say, edit and react get muted with retryAfterMs; minutes 0 unmutes", async () => {
        const room = freshRoom();
        const mod = await moderator(room);
        const alice = await signIn(room, "alice");
        const bob = await signIn(room, "bob");
        const mine = await commit(bob.client, say("before"), "message");
        const hers = await commit(alice.client, say("hers"), "message");
        const mu = await commit(
          mod.client,
          { type: "mute", user: idOf(bob.you), minutes: 5, reason: "calm" },
          "moderated",
        );
        assert.equal(mu.entry.action, "mute");
        assert.deepEqual(mu.entry.user, bob.you);
        assert.equal(mu.entry.reason, "calm");
        const until = mu.entry.until as number;
        assert.ok(Math.abs(until - ((mu.entry.ts as number) + 300_000)) < 2000, `until ${until}, ts ${mu.entry.ts}`);
        assert.deepEqual(await entryAt(bob.client, mu.seq), mu.entry, "the muted user sees it too");

        for (const frame of [
          say("let me speak"),
          { type: "edit", target: mine.seq, text: "edited" },
          { type: "react", target: hers.seq, emoji: "👎" },
        ]) {
          const err = await refuse(bob.client, frame, "muted", room);
          const retry = err.retryAfterMs as number;
          assert.ok(retry > 280_000 && retry <= 300_000, `retryAfterMs ${retry}`);
        }
        // Muted is not gone: bob still reads the room.
        const live = await commit(alice.client, say("still reading?"), "message");
        assert.equal((await entryAt(bob.client, live.seq)).text, "still reading?");

        const un = await commit(mod.client, { type: "mute", user: idOf(bob.you), minutes: 0 }, "moderated");
        assert.equal(un.entry.action, "unmute");
        assert.deepEqual(un.entry.user, bob.you);
        await commit(bob.client, say("thanks"), "message");
        await noChange(mod.client, { type: "mute", user: idOf(bob.you), minutes: 0 }, room);
        await Promise.all([mod, alice, bob].map((j) => j.client.close()));
      });

      it("a member who is not a moderator gets forbidden for every moderator frame", async () => {
        const room = freshRoom();
        const alice = await signIn(room, "alice");
        const guest = await enter(room);
        const bob = await signIn(room, "bob");
        const m = await commit(bob.client, say("target"), "message");
        const target = idOf(bob.you);
        for (const j of [alice, guest]) {
          for (const frame of [
            { type: "kick", user: target },
            { type: "ban", user: target },
            { type: "ban", user: target, minutes: 5 },
            { type: "unban", user: target },
            { type: "mute", user: target, minutes: 5 },
            { type: "mute", user: target, minutes: 0 },
            { type: "delete", target: m.seq },
          ]) {
            await refuse(j.client, frame, "forbidden", room);
          }
        }
        assert.equal(bob.client.ws.readyState, bob.client.ws.OPEN, "bob is still here");
        await commit(bob.client, say("not muted"), "message");
        assert.equal((await foldedOne(room, m.seq)).text, "target");
        await Promise.all([alice, guest, bob].map((j) => j.client.close()));
      });

      it("a moderator acting on another moderator or their message gets forbidden", async () => {
        const room = freshRoom();
        const mod1 = await moderator(room, "mod1");
        const mod2 = await moderator(room, "mod2");
        const m = await commit(mod2.client, say("moderator's word"), "message");
        const target = idOf(mod2.you);
        for (const frame of [
          { type: "kick", user: target },
          { type: "ban", user: target },
          { type: "mute", user: target, minutes: 5 },
          { type: "delete", target: m.seq },
        ]) {
          await refuse(mod1.client, frame, "forbidden", room);
        }
        await commit(mod2.client, say("still here"), "message");
        assert.equal((await foldedOne(room, m.seq)).text, "moderator's word");
        await Promise.all([mod1, mod2].map((j) => j.client.close()));
      });

      it("a moderator deletes a member's message; the entry names the moderator", async () => {
        const room = freshRoom();
        const mod = await moderator(room);
        const bob = await signIn(room, "bob");
        const m = await commit(bob.client, say("spam spam spam"), "message");
        const d = await commit(mod.client, { type: "delete", target: m.seq }, "deleted");
        assert.deepEqual(d.entry.by, mod.you);
        assert.deepEqual(await entryAt(bob.client, d.seq), d.entry);
        const f = await foldedOne(room, m.seq);
        assert.equal(f.text, "");
        assert.equal(f.deleted, true);
        await Promise.all([mod, bob].map((j) => j.client.close()));
      });

      it("an anonymous user banned is refused by reconnect token and, joining anonymously, by address group", async () => {
        const room = freshRoom();
        const mod = await moderator(room);
        const ip = nextAddress();
        const spammer = await enter(room, { ip, query: { name: "spammer" } });
        const b = await commit(mod.client, { type: "ban", user: idOf(spammer.you) }, "moderated");
        assert.deepEqual(b.entry.user, spammer.you);
        assert.deepEqual(await closeOf(spammer, "the ban"), { code: 1008, reason: "banned" });

        const BANNED = { upgrade: 403, status: 403, code: "banned" };
        const token = spammer.welcome.token as string;
        assert.deepEqual(await refusal(room, { query: { token } }), BANNED, "by token, from another address");
        assert.deepEqual(await refusal(room, { ip }), BANNED, "anonymous, from the same address");
        assert.deepEqual(await refusal(room, { ip, protocols: V1 }), BANNED, "anonymous v1, from the same address");
        const neighbour = await enter(room);
        assert.notEqual(neighbour.you.id, spammer.you.id);
        const signed = await signIn(room, "carol", { ip });
        assert.equal(signed.you.sub, "carol", "a signed user from that address is not banned by it");

        await commit(mod.client, { type: "unban", user: idOf(spammer.you) }, "moderated");
        const back = await enter(room, { ip, query: { token } });
        assert.deepEqual(back.you, spammer.you);
        await Promise.all([mod, neighbour, signed, back].map((j) => j.client.close()));
      });
    });

    describe("restart", () => {
      it("kill -9 and restart: each sub keeps its user id; bans and mutes still hold", {
        timeout: 120_000,
      }, async () => {
        const port = await freePort();
        const env = { ...BASE_ENV, PARLEY_DB: `${tempDir()}/parley.db`, PORT: String(port) };
        let server = await start(env);
        extra.push(server);
        const room = freshRoom();
        const o = () => ({ server });
        const mod = await moderator(room, "mod", o());
        const alice = await signIn(room, { sub: "alice", name: "Alice" }, o());
        const bob = await signIn(room, "bob", o());
        const carol = await signIn(room, "carol", o());
        const said = await commit(alice.client, say("before"), "message");
        await commit(mod.client, { type: "ban", user: idOf(bob.you) }, "moderated");
        const mute = await commit(mod.client, { type: "mute", user: idOf(carol.you), minutes: 10 }, "moderated");

        await server.stop("SIGKILL");
        await Promise.all([mod, alice, bob, carol].map((j) => closeOf(j, "the kill")));
        server = await start(env);
        extra.push(server);
        assert.equal(server.port, port);

        const alice2 = await signIn(room, { sub: "alice", name: "Alice" }, { server, query: { name: "Other" } });
        assert.deepEqual(alice2.you, alice.you, "the same sub, the same user");
        const mod2 = await moderator(room, "mod", o());
        assert.deepEqual(mod2.you, mod.you);
        assert.deepEqual(await refusal(room, { server, query: { access_token: bob.token } }), {
          upgrade: 403,
          status: 403,
          code: "banned",
        });
        const carol2 = await enter(room, { server, token: carol.token });
        const err = await act(carol2.client, say("am I free?"));
        assert.equal(err.code, "muted", JSON.stringify(err));
        assert.ok((err.retryAfterMs as number) > 0 && (err.retryAfterMs as number) <= 600_000);
        const dave = await signIn(room, "dave", o());
        assert.ok(
          ![mod, alice, bob, carol].some((j) => j.you.id === dave.you.id),
          "a new sub gets a new id: the counter carried on",
        );
        const next = await commit(alice2.client, say("after"), "message");
        assert.equal(next.seq, mute.seq + 1, "the log carried on");
        assert.equal((await entryAt(mod2.client, next.seq)).text, "after");
        assert.ok(said.seq < mute.seq);
        await Promise.all([alice2, mod2, carol2, dave].map((j) => j.client.close()));
        await server.stop("SIGKILL");
      });
    });
  });
}
