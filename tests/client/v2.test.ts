/**
 * The typed client's v2 part (PROTOCOL-v2 sections 1–3): the folded view (`client.messages`, `change`)
 * applying every entry once and in `seq` order, live, on resume and from a gap paged with `entries:true`;
 * the calls that make entries and how their acks and refusals settle them; the access token asked for
 * before every connect; the stop on `1008 kicked`/`banned` and on a 401/403 handshake.
 *
 * The first part plays the server with a scripted socket (no server), as timers.test.ts does. The second
 * runs the client against a real server (dist/node.mjs): the folded view through a kill -9 and restart,
 * and through a gap larger than the resume window.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import { SignJWT } from "jose";
import {
  type ClientEvents,
  type ConnectOptions,
  connect,
  type DeletedEntry,
  type EditedEntry,
  type Entry,
  type Message,
  type ModeratedEntry,
  type ParleyClient,
  ParleyError,
  type ReactedEntry,
  type ServerFrame,
  type StateChange,
  type User,
  type ViewChange,
  type WelcomeFrame,
} from "../../src/client/index.ts";
import { terminateAll } from "../helpers/client.ts";
import { runtimes } from "../helpers/runtimes.ts";
import { type RunningServer, startServer, tempDir } from "../helpers/server.ts";
import { eventually, sleep, within } from "../helpers/wait.ts";
import { storedHistory } from "../helpers/writers.ts";
import { ScriptedSocket } from "./scripted-socket.ts";
import { Wire } from "./wire.ts";

const it = (name: string, fn: () => Promise<void>) => test(name, { timeout: 30_000 }, fn);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
/** Far longer than any test. */
const LONG = 60_000;

// ---- entries ------------------------------------------------------------------------------

const ada: User = { id: "u1", name: "ada" };
const bob: User = { id: "u2", name: "bob" };
const cat: User = { id: "u3", name: "cat" };
const mod: User = { id: "u4", name: "mo", sub: "mo", role: "moderator" };

const msg = (seq: number, over: Partial<Message> = {}): Message => ({
  type: "message",
  seq,
  ts: seq,
  from: over.from ?? bob,
  by: over.from ?? bob,
  text: `m${seq}`,
  ...over,
});
/** A message as folded pages carry it and the view holds it: no `by`, which only repeats `from`. */
const folded = (seq: number, over: Partial<Message> = {}): Message => {
  const { by: _, ...m } = msg(seq, over);
  return m;
};
const edited = (seq: number, target: number, text: string, by = bob, ref?: string): EditedEntry => ({
  type: "edited",
  seq,
  ts: seq,
  by,
  target,
  text,
  ...(ref ? { ref } : {}),
});
const deleted = (seq: number, target: number, by = bob): DeletedEntry => ({
  type: "deleted",
  seq,
  ts: seq,
  by,
  target,
});
const reacted = (seq: number, target: number, emoji: string, by = bob, on = true): ReactedEntry => ({
  type: "reacted",
  seq,
  ts: seq,
  by,
  target,
  emoji,
  on,
});
const moderated = (seq: number, action: ModeratedEntry["action"], user: User): ModeratedEntry => ({
  type: "moderated",
  seq,
  ts: seq,
  by: mod,
  action,
  user,
});

// ---- a scripted server --------------------------------------------------------------------

const welcome = (over: Partial<WelcomeFrame> = {}): WelcomeFrame => ({
  type: "welcome",
  room: "r",
  epoch: "e1",
  you: ada,
  token: "t",
  members: [ada],
  messages: [],
  seq: 0,
  resumed: false,
  ...over,
});

/** Everything a client emitted, by event. */
interface Seen {
  entries: (Message | Entry)[];
  messages: Message[];
  edited: EditedEntry[];
  deleted: DeletedEntry[];
  reacted: ReactedEntry[];
  moderated: ModeratedEntry[];
  changes: ViewChange[];
  states: StateChange[];
  errors: unknown[];
}

function watch(client: ParleyClient): Seen {
  const seen: Seen = {
    entries: [],
    messages: [],
    edited: [],
    deleted: [],
    reacted: [],
    moderated: [],
    changes: [],
    states: [],
    errors: [],
  };
  const on = <K extends keyof ClientEvents>(event: K, into: ClientEvents[K][]) => client.on(event, (p) => into.push(p));
  on("entry", seen.entries);
  on("message", seen.messages);
  on("edited", seen.edited);
  on("deleted", seen.deleted);
  on("reacted", seen.reacted);
  on("moderated", seen.moderated);
  on("change", seen.changes);
  on("state", seen.states);
  on("error", seen.errors as ClientEvents["error"][]);
  return seen;
}

let scripted: ParleyClient[] = [];

/** A client on scripted sockets (they land in `sockets`); its fetch fails at once unless given. */
function start(options: Partial<ConnectOptions> = {}) {
  const sockets: ScriptedSocket[] = [];
  const client = connect("http://parley.invalid", {
    room: "r",
    WebSocket: class extends ScriptedSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, [protocols ?? []].flat());
        sockets.push(this);
      }
    },
    fetch: (() => Promise.reject(new TypeError("no network"))) as unknown as typeof fetch,
    pingIntervalMs: LONG,
    pongTimeoutMs: LONG,
    connectTimeoutMs: LONG,
    backoff: { initialMs: 1, maxMs: 1 },
    ...options,
  });
  scripted.push(client);
  return { client, sockets, seen: watch(client) };
}

/** A client welcomed on its first socket. */
function live(w: Partial<WelcomeFrame> = {}, options: Partial<ConnectOptions> = {}, protocol = "parley.v2") {
  const s = start(options);
  s.sockets[0].accept(protocol);
  s.sockets[0].deliver(welcome(w));
  assert.equal(s.client.state, "live");
  return { ...s, socket: s.sockets[0] };
}

/** Drop the newest socket and wait for the next one. */
async function drop(sockets: ScriptedSocket[], code = 1006) {
  const n = sockets.length;
  (sockets.at(-1) as ScriptedSocket).close(code, "");
  await eventually(() => sockets.length > n, "a new socket");
  return sockets.at(-1) as ScriptedSocket;
}

/** Answer `history` frames as a server holding `log` would: the newest `limit` before `before`, oldest first. */
function serveHistory(socket: ScriptedSocket, log: (Message | Entry)[], onFirst?: () => void) {
  let first = true;
  socket.answer = (f) => {
    if (f.type !== "history") return;
    if (first) onFirst?.();
    first = false;
    const older = log.filter((e) => e.seq < (f.before as number));
    const page = older.slice(-(f.limit as number));
    const more = older.length > page.length;
    const ref = f.ref as string;
    setImmediate(() =>
      socket.deliver(
        f.entries
          ? { type: "history", entries: page as Entry[], more, ref }
          : { type: "history", messages: page.filter((e): e is Message => e.type === "message"), more, ref },
      ),
    );
  };
}

const view = (client: ParleyClient) => [...client.messages.values()];
const seqs = (list: { seq: number }[]) => list.map((e) => e.seq);

describe("scripted server", () => {
  afterEach(() => {
    for (const c of scripted) c.close();
    scripted = [];
  });

  it("offers parley.v2 then parley.v1, and says which one the server chose", async () => {
    const { sockets, client } = start({ accessToken: "a.b.c" });
    assert.deepEqual(sockets[0].protocols, ["parley.v2", "parley.v1"]);
    assert.equal(sockets[0].query.get("access_token"), "a.b.c");
    sockets[0].accept();
    sockets[0].deliver(welcome());
    assert.equal(client.protocol, "parley.v2");
  });

  it("a big room: a welcome's first page and memberCount, presence frames as joined/left, loadMembers pages the rest", async () => {
    const { client, socket } = live({ members: [ada, bob], memberCount: 4, membersNext: 7 });
    assert.equal(client.memberCount, 4);
    assert.deepEqual([...client.members.keys()], ["u1", "u2"]);
    const joined: string[] = [];
    const left: string[] = [];
    client.on("joined", (f) => joined.push(f.user.id));
    client.on("left", (f) => left.push(f.user.id));
    socket.deliver({ type: "presence", joined: [cat, ada], left: [bob], count: 4 });
    assert.deepEqual(joined, ["u3"], "no joined event for oneself");
    assert.deepEqual(left, ["u2"]);
    assert.deepEqual([...client.members.keys()].sort(), ["u1", "u3"]);
    socket.answer = (f) => {
      if (f.type !== "members") return;
      const ref = f.ref as string;
      const page =
        f.after === 7
          ? { type: "members" as const, members: [bob], count: 4, next: 9, ref }
          : { type: "members" as const, members: [mod], count: 4, ref };
      setImmediate(() => socket.deliver(page));
    };
    const everyone = await client.loadMembers();
    assert.deepEqual(
      socket.of("members").map((f) => f.after),
      [7, 9],
    );
    assert.deepEqual(everyone.map((u) => u.id).sort(), ["u1", "u2", "u3", "u4"]);
    // Complete now: another call asks for nothing.
    await client.loadMembers();
    assert.equal(socket.of("members").length, 2);
  });

  it("the folded view: seeded by a fresh welcome, then edit, delete, react and reply applied in order, once", async () => {
    const first = msg(1, { text: "hello", reactions: { "👍": ["u3"] } });
    const { client, socket, seen } = live({ messages: [first, msg(2, { text: "second" })], seq: 2 });
    assert.deepEqual(seqs(view(client)), [1, 2]);
    const before = client.messages.get(1);

    const log: (Message | Entry)[] = [
      msg(3, { text: "a reply", replyTo: 1 }),
      edited(4, 1, "hello, edited"),
      reacted(5, 3, "🎉", bob),
      reacted(6, 3, "🎉", ada),
      reacted(7, 1, "👍", ada),
      reacted(8, 3, "🎉", bob, false),
      deleted(9, 2),
      moderated(10, "mute", cat),
      reacted(11, 404, "👍", ada),
    ];
    for (const e of log) socket.deliver(e);
    // Repeats (a replay of what was seen live) change nothing and are not emitted again.
    for (const e of [log[1], log[0], log[5], log[6], msg(2, { text: "second" })]) socket.deliver(e);

    assert.deepEqual(view(client), [
      { ...folded(1), text: "hello, edited", edited: 4, reactions: { "👍": ["u3", "u1"] } },
      { ...folded(2), text: "", deleted: true },
      { ...folded(3), text: "a reply", replyTo: 1, reactions: { "🎉": ["u1"] } },
    ]);
    assert.deepEqual(seqs(seen.entries), range(1, 11));
    assert.deepEqual(seqs(seen.messages), [1, 2, 3]);
    assert.deepEqual(seen.messages[2], folded(3, { text: "a reply", replyTo: 1 }), "a message event as in v1");
    assert.deepEqual(seen.entries[2], log[0], "an entry event as received");
    assert.deepEqual(seqs(seen.edited), [4]);
    assert.deepEqual(seqs(seen.reacted), [5, 6, 7, 8, 11]);
    assert.deepEqual(seqs(seen.deleted), [9]);
    assert.deepEqual(seqs(seen.moderated), [10]);
    assert.equal(seen.moderated[0].user.id, "u3");
    // One change per entry applied, with the message as it then stood.
    assert.deepEqual(
      seen.changes.map((c) => c.entry?.seq),
      range(1, 11),
    );
    assert.equal(seen.changes[3].message?.text, "hello, edited");
    assert.equal(seen.changes[9].message, undefined, "a moderated entry changes no message");
    assert.equal(seen.changes[10].message, undefined, "a target the view does not hold changes nothing");
    // Each change is a new object: the old one still says what it said.
    assert.notEqual(client.messages.get(1), before);
    assert.equal(before?.text, "hello");
    assert.equal(client.seq, 11);
  });

  it("a resume replaying entries the view already has applies each once; a lost ack is settled by the replay", async () => {
    const { client, sockets, socket, seen } = live();
    for (const e of [msg(1), msg(2), edited(3, 1, "one"), reacted(4, 2, "👍", ada)]) socket.deliver(e);
    const edit = client.edit(2, "two, mine");
    const sentRef = socket.of("edit")[0]?.ref as string;
    assert.deepEqual(socket.of("edit"), [{ type: "edit", target: 2, text: "two, mine", ref: sentRef }]);

    // The edit is committed, but the connection drops before its entry and ack arrive.
    const next = await drop(sockets);
    assert.equal(next.query.get("since"), "4");
    assert.equal(next.query.get("epoch"), "e1");
    next.accept();
    next.deliver(
      welcome({
        resumed: true,
        seq: 7,
        messages: [
          // 3 and 4 again (a server that replays from an older point): dropped.
          edited(3, 1, "one") as unknown as Message,
          reacted(4, 2, "👍", ada) as unknown as Message,
          edited(5, 2, "two, mine", ada, sentRef) as unknown as Message,
          msg(6),
          deleted(7, 6) as unknown as Message,
        ],
      }),
    );
    const ack = await within(edit, 2000, "the edit settled by its replayed entry");
    assert.deepEqual(ack, { type: "ack", ref: sentRef, seq: 5 });
    assert.equal(next.of("edit").length, 0, "a committed edit is not sent again");
    assert.deepEqual(seqs(seen.entries), range(1, 7));
    assert.deepEqual(view(client), [
      { ...folded(1), text: "one", edited: 3 },
      { ...folded(2), text: "two, mine", edited: 5, reactions: { "👍": ["u1"] } },
      { ...folded(6), text: "", deleted: true },
    ]);
  });

  it("a failed resume pages the whole gap with entries:true, past the replay window, before anything newer", async () => {
    const { client, sockets, socket, seen } = live();
    for (const e of [msg(1), msg(2), msg(3)]) socket.deliver(e);
    // What the room did meanwhile: 257 entries, edits to messages older than the gap among them.
    const log: (Message | Entry)[] = [msg(1), msg(2), msg(3)];
    for (let seq = 4; seq <= 260; seq++) {
      if (seq === 201) log.push(edited(seq, 2, "two, edited"));
      else if (seq === 202) log.push(reacted(seq, 3, "👍", cat));
      else if (seq === 251) log.push(deleted(seq, 1));
      else if (seq === 252) log.push(moderated(seq, "kick", cat));
      else log.push(msg(seq));
    }
    const next = await drop(sockets);
    // A live entry that arrives while the gap is paged waits for it.
    serveHistory(next, log, () => next.deliver(msg(261)));
    next.accept();
    // The welcome's folded messages (the last 50) would miss the edit of 2, the reaction to 3, the delete of 1.
    const last50 = log.filter((e): e is Message => e.type === "message").slice(-50);
    next.deliver(welcome({ resumed: false, seq: 260, messages: last50 }));
    await eventually(() => client.state === "live", "live after the paging");

    const pages = next.of("history");
    assert.ok(
      pages.every((f) => f.entries === true),
      "every page asks for raw entries",
    );
    assert.deepEqual(
      pages.map((f) => f.before),
      [261, 161, 61],
    );
    assert.deepEqual(seqs(seen.entries), range(1, 261));
    assert.deepEqual(seqs(seen.moderated), [252]);
    assert.deepEqual(client.messages.get(1), { ...folded(1), text: "", deleted: true });
    assert.deepEqual(client.messages.get(2), { ...folded(2), text: "two, edited", edited: 201 });
    assert.deepEqual(client.messages.get(3), { ...folded(3), reactions: { "👍": ["u3"] } });
    assert.equal(client.messages.size, 257, "256 messages in the gap's log, and the live one");
    assert.deepEqual(
      seqs(view(client)),
      [...new Set(seqs(view(client)))].sort((a, b) => a - b),
    );
    assert.equal(client.seq, 261);
  });

  it("on a parley.v1 connection a failed resume pages folded messages, as before", async () => {
    const { client, sockets, socket, seen } = live({}, {}, "parley.v1");
    socket.deliver(msg(1));
    const log = range(1, 150).map((seq) => msg(seq));
    const next = await drop(sockets);
    serveHistory(next, log);
    next.accept("parley.v1");
    next.deliver(welcome({ resumed: false, seq: 150, messages: log.slice(-50) }));
    await eventually(() => client.state === "live", "live after the paging");
    assert.ok(next.of("history").every((f) => f.entries === undefined));
    assert.deepEqual(seqs(seen.messages), range(1, 150));
    assert.equal(client.messages.size, 150);
  });

  it("acks and refusals: each call settles by its ref; muted is not retried, rate_limited is", async () => {
    const { client, socket, seen } = live({ messages: [msg(1)], seq: 1 });
    let seq = 1;
    const replies: Record<string, (f: Record<string, unknown>) => ServerFrame[]> = {
      say: (f) => [msg(++seq, { from: ada, text: f.text as string, ref: f.ref as string }), ack(f, seq)],
      edit: (f) =>
        f.text === "slow"
          ? once(f, {
              type: "error",
              code: "rate_limited",
              message: "slow down",
              ref: f.ref as string,
              retryAfterMs: 5,
            })
          : [edited(++seq, f.target as number, f.text as string, ada, f.ref as string), ack(f, seq)],
      react: (f) =>
        f.emoji === "🎉"
          ? [{ type: "error", code: "muted", message: "you are muted", ref: f.ref as string, retryAfterMs: 60_000 }]
          : [{ type: "ack", ref: f.ref as string }],
      delete: (f) => [{ type: "error", code: "not_found", message: "no such message", ref: f.ref as string }],
      kick: (f) => [{ type: "error", code: "forbidden", message: "moderators only", ref: f.ref as string }],
      ban: (f) => [ack(f, ++seq)],
      unban: (f) => [{ type: "ack", ref: f.ref as string }],
      mute: (f) => [ack(f, ++seq)],
    };
    const limited = new Set<string>();
    const ack = (f: Record<string, unknown>, s: number): ServerFrame => ({ type: "ack", ref: f.ref as string, seq: s });
    // The first time a ref is seen it gets `frame`; when it is sent again it is accepted.
    function once(f: Record<string, unknown>, frame: ServerFrame): ServerFrame[] {
      if (limited.has(f.ref as string))
        return [edited(++seq, f.target as number, "slow", ada, f.ref as string), ack(f, seq)];
      limited.add(f.ref as string);
      return [frame];
    }
    socket.answer = (f) => {
      const reply = replies[f.type as string];
      if (reply) for (const r of reply(f)) setImmediate(() => socket.deliver(r));
    };

    const said = await client.say("hi", { replyTo: 1 });
    assert.equal(said.seq, 2);
    assert.deepEqual(socket.of("say")[0], { type: "say", text: "hi", replyTo: 1, ref: said.ref });
    assert.equal((await client.edit({ seq: 2 }, "hi!")).seq, 3);
    const noop = await client.react(1, "👍");
    assert.deepEqual(noop, { type: "ack", ref: noop.ref }, "a reaction already there: acked without seq");
    await assert.rejects(client.delete(99), { name: "ParleyError", code: "not_found" });
    await assert.rejects(client.kick(bob, "spam"), { name: "ParleyError", code: "forbidden" });
    const muted = await client.react(1, "🎉").catch((e: unknown) => e);
    assert.ok(muted instanceof ParleyError);
    assert.equal(muted.code, "muted");
    assert.equal(muted.retryAfterMs, 60_000);
    const slow = await within(client.edit(2, "slow"), 2000, "the rate-limited edit, resent");
    assert.equal(slow.seq, 4);
    assert.equal(socket.of("edit").filter((f) => f.text === "slow").length, 2, "rate_limited: sent again");
    assert.equal((await client.ban("u2", { minutes: 10, reason: "spam" })).seq, 5);
    assert.deepEqual((await client.unban({ id: "u2" })).seq, undefined);
    assert.equal((await client.mute(bob, 5, "calm down")).seq, 6);
    await sleep(20);
    assert.equal(socket.of("react").filter((f) => f.emoji === "🎉").length, 1, "muted: not sent again");
    const frames = socket.sent.filter((f) => f.type !== "say" && f.type !== "edit").map(({ ref: _, ...f }) => f);
    assert.deepEqual(frames, [
      { type: "react", target: 1, emoji: "👍", on: true },
      { type: "delete", target: 99 },
      { type: "kick", user: "u2", reason: "spam" },
      { type: "react", target: 1, emoji: "🎉", on: true },
      { type: "ban", user: "u2", minutes: 10, reason: "spam" },
      { type: "unban", user: "u2" },
      { type: "mute", user: "u2", minutes: 5, reason: "calm down" },
    ]);
    assert.deepEqual(seen.errors, [], "a claimed error is not emitted as well");
    assert.deepEqual(client.queued(), []);
    assert.equal(client.messages.get(2)?.text, "slow");
  });

  it("an older server (parley.v1): v2 calls reject with unsupported; say works as before", async () => {
    const { client, sockets } = start();
    const early = client.edit(1, "queued while connecting");
    sockets[0].accept("parley.v1");
    sockets[0].deliver(welcome({ messages: [msg(1)], seq: 1 }));
    await assert.rejects(early, { name: "ParleyError", code: "unsupported" });
    assert.equal(client.protocol, "parley.v1");
    await assert.rejects(client.react(1, "👍"), { name: "ParleyError", code: "unsupported" });
    await assert.rejects(client.say("re", { replyTo: 1 }), { name: "ParleyError", code: "unsupported" });
    await assert.rejects(client.kick("u2"), { name: "ParleyError", code: "unsupported" });
    void client.say("plain").catch(() => {});
    assert.deepEqual(
      sockets[0].sent.map((f) => f.type),
      ["say"],
    );
  });

  it("accessToken: a function is called before every connect; its token goes on the upgrade", async () => {
    let calls = 0;
    const { client, sockets } = start({ accessToken: () => `tok-${++calls}` });
    assert.equal(calls, 1);
    assert.equal(sockets[0].query.get("access_token"), "tok-1");
    sockets[0].accept();
    sockets[0].deliver(welcome());
    const second = await drop(sockets);
    assert.equal(calls, 2);
    assert.equal(second.query.get("access_token"), "tok-2");
    second.accept();
    second.deliver(welcome({ resumed: true }));
    const third = await drop(sockets);
    assert.equal(calls, 3);
    assert.equal(third.query.get("access_token"), "tok-3");
    assert.equal(client.state, "reconnecting");
  });

  it("accessToken: a promise is waited for; a rejection or a timeout is a failed attempt, retried", async () => {
    let calls = 0;
    const answers: (() => Promise<string>)[] = [
      () => Promise.reject(new Error("the session expired")),
      () => new Promise<string>(() => {}),
      () => new Promise<string>((resolve) => setTimeout(() => resolve("fresh"), 10)),
    ];
    const { client, sockets, seen } = start({
      accessToken: () => (answers[calls++] as () => Promise<string>)(),
      connectTimeoutMs: 100,
    });
    assert.equal(sockets.length, 0, "no socket before the token");
    await eventually(() => sockets.length === 1, "a socket once a token came");
    assert.equal(calls, 3);
    assert.equal(sockets[0].query.get("access_token"), "fresh");
    const retries = seen.states.filter((s) => s.state === "reconnecting").map((s) => s.reason);
    assert.deepEqual(retries, [
      "no access token: the session expired",
      "no access token: no access token after 100 ms",
    ]);
    sockets[0].accept();
    sockets[0].deliver(welcome());
    assert.equal(client.state, "live");
  });

  it("close() while an access token is awaited leaves no timer, and a late token opens nothing", async () => {
    const pending = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    await sleep(5);
    const before = pending();
    let give: (token: string) => void = () => {};
    const { client, sockets } = start({ accessToken: () => new Promise<string>((resolve) => (give = resolve)) });
    assert.ok(pending() > before, "the token's deadline is running");
    client.close();
    assert.equal(pending(), before, "timers left pending after close()");
    give("late");
    await new Promise((r) => setImmediate(r));
    assert.equal(sockets.length, 0);
    assert.equal(client.state, "stopped");
  });

  it("a refused handshake is asked why with Authorization: Bearer; 401 and 403 banned stop with the server's reason", async () => {
    for (const [status, code, message] of [
      [401, "unauthorized", "the access token is not valid"],
      [403, "banned", "you are banned from this room"],
      [403, "forbidden", "this token does not grant the room"],
    ] as const) {
      const asked: { url: string; headers: Record<string, string> }[] = [];
      const fetcher = (async (url: string, init?: RequestInit) => {
        asked.push({ url, headers: (init?.headers ?? {}) as Record<string, string> });
        return new Response(JSON.stringify({ error: { code, message } }), { status });
      }) as typeof fetch;
      const { client, sockets, seen } = start({ accessToken: async () => "tok", fetch: fetcher, token: "rt" });
      await eventually(() => sockets.length === 1, "the socket");
      sockets[0].refuse();
      await eventually(() => client.state === "stopped", "stopped");
      assert.deepEqual(seen.states.at(-1), { state: "stopped", code: status, reason: message });
      assert.equal(asked.length, 1);
      const url = new URL(asked[0].url);
      assert.equal(url.pathname, "/rooms/r/ws");
      assert.equal(url.searchParams.get("token"), "rt", "the GET carries the upgrade's query");
      assert.equal(url.searchParams.get("access_token"), null, "but not the access token");
      assert.equal(asked[0].headers.authorization, "Bearer tok");
      await sleep(10);
      assert.equal(sockets.length, 1, "no retry");
    }
  });

  for (const reason of ["kicked", "banned"]) {
    it(`1008 ${reason}: the client stops and says why`, async () => {
      const { client, sockets, socket, seen } = live();
      const waiting = assert.rejects(client.say("never acked"), { name: "ParleyError", code: "stopped" });
      socket.close(1008, reason);
      await eventually(() => client.state === "stopped", "stopped");
      assert.deepEqual(seen.states.at(-1), { state: "stopped", code: 1008, reason });
      await waiting;
      await assert.rejects(client.react(1, "👍"), { name: "ParleyError", code: "stopped" });
      await sleep(10);
      assert.equal(sockets.length, 1, "no reconnect");
    });
  }

  it("history() pages join the view, and later entries change them; a new epoch empties it", async () => {
    const { client, sockets, socket, seen } = live({ messages: range(51, 60).map((s) => msg(s)), seq: 60 });
    const log = range(1, 60).map((s) => (s === 3 ? msg(3, { text: "three", edited: 40 }) : msg(s)));
    serveHistory(socket, log);
    const page = await client.history(51, 50);
    assert.equal(page.messages.length, 50);
    assert.deepEqual(seqs(view(client)), range(1, 60));
    assert.equal(client.messages.get(3)?.text, "three");
    assert.deepEqual(seen.changes.at(-1), {}, "a page merged is one change without an entry");
    socket.deliver(edited(61, 3, "three, again"));
    assert.equal(client.messages.get(3)?.text, "three, again");

    const next = await drop(sockets);
    next.accept();
    next.deliver(welcome({ epoch: "e2", messages: [msg(1, { text: "a new life" })], seq: 1 }));
    assert.deepEqual(view(client), [folded(1, { text: "a new life" })]);
  });
});

// ---- against a real server ----------------------------------------------------------------
// These need the server's v2 (PROTOCOL-v2 sections 1–3) in dist/node.mjs.

const SECRET = "client-v2-test-secret-0123456789-abcdefgh";
const FAST = {
  PARLEY_RATE_BURST: "100000",
  PARLEY_RATE_PER_SEC: "100000",
  PARLEY_FRAME_BURST: "100000",
  PARLEY_FRAME_PER_SEC: "100000",
};

function sign(sub: string, claims: { name?: string; role?: "moderator" } = {}): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime("1h")
    .sign(new TextEncoder().encode(SECRET));
}

describe("against a node server (dist/node.mjs)", () => {
  const servers = new Set<RunningServer>();
  const opened: { client: ParleyClient; wire: Wire }[] = [];
  let lastRoom = 0;
  const room = () => `v2-${process.pid}-${++lastRoom}`;

  async function serve(env: Record<string, string>): Promise<RunningServer> {
    const server = await startServer(() => runtimes.node.command(env), env, 20_000);
    servers.add(server);
    return server;
  }

  /** A client through a Wire; its diagnostic GET goes straight out, so that it keeps its Authorization. */
  function open(server: RunningServer, name: string, r: string, options: Partial<ConnectOptions> = {}) {
    const wire = new Wire();
    const client = connect(server.url, {
      room: r,
      name,
      WebSocket: wire.WebSocket,
      backoff: { initialMs: 50, maxMs: 500 },
      ...options,
    });
    opened.push({ client, wire });
    return { client, wire, seen: watch(client) };
  }
  const isLive = (c: ParleyClient, ms = 10_000) => eventually(() => c.state === "live", `live (${c.state})`, ms);

  afterEach(() => {
    for (const { client, wire } of opened) {
      client.close();
      wire.destroy();
    }
    opened.length = 0;
    terminateAll();
  });
  after(async () => {
    await Promise.all([...servers].map((s) => s.stop("SIGKILL")));
  });

  let main: RunningServer;
  before(async () => {
    main = await serve({ PARLEY_DB: `${tempDir()}/parley.db`, ...FAST });
  });

  it("the folded view through a kill -9 and restart: every entry once, the same state as the server's", async () => {
    const env = { PARLEY_DB: `${tempDir()}/parley.db`, ...FAST };
    const s1 = await serve(env);
    const r = room();
    const a = open(s1, "ada", r);
    const b = open(s1, "bob", r);
    await isLive(a.client);
    await isLive(b.client);
    assert.equal(a.client.protocol, "parley.v2");
    assert.equal(a.wire.last.inner?.protocol, "parley.v2", "the server chose v2");
    const m1 = await b.client.say("one");
    const m2 = await b.client.say("two");
    const m3 = await b.client.say("three");
    await a.client.react(m1.seq, "👍");
    await b.client.edit(m2.seq, "two, edited");
    await b.client.say("re: one", { replyTo: m1.seq });
    await eventually(() => a.client.seq === b.client.seq, "ada to catch up");

    a.wire.down = true;
    await s1.stop("SIGKILL");
    await eventually(() => a.client.state === "reconnecting", "ada reconnecting");
    await serve({ ...env, PORT: String(s1.port) });
    await isLive(b.client);
    await b.client.edit(m1.seq, "one, edited");
    await b.client.delete(m3.seq);
    await b.client.react(m2.seq, "🎉");
    const last = await b.client.say("after the restart");
    a.wire.mend();
    await isLive(a.client);
    await eventually(
      () => a.client.seq === last.seq,
      () => `ada at ${a.client.seq}, want ${last.seq}`,
    );
    await a.client.ping();

    assert.deepEqual(seqs(a.seen.entries), range(1, last.seq));
    assert.deepEqual(view(a.client), view(b.client));
    // Field for field what the server folds: the view needs nothing the log does not say.
    assert.deepEqual(view(a.client), await storedHistory(s1.url, r));
    assert.equal(a.client.messages.get(m1.seq)?.text, "one, edited");
    assert.deepEqual(a.client.messages.get(m1.seq)?.reactions, { "👍": [a.client.me?.id] });
    assert.equal(a.client.messages.get(m3.seq)?.deleted, true);
    assert.equal(a.client.messages.get(m3.seq)?.text, "");
  });

  it("a gap larger than the resume window is paged with entries:true; the view ends as the server's", async () => {
    const r = room();
    const a = open(main, "ada", r);
    const b = open(main, "bob", r);
    await isLive(a.client);
    await isLive(b.client);
    const m1 = await b.client.say("one");
    const m2 = await b.client.say("two");
    await eventually(() => a.client.seq === m2.seq, "ada to get both");
    a.wire.cut();
    await eventually(() => a.client.state === "reconnecting", "ada reconnecting");
    await b.client.edit(m1.seq, "one, edited");
    await b.client.react(m2.seq, "👍");
    await Promise.all(range(1, 150).map((i) => b.client.say(`n${i}`)));
    await b.client.delete(m2.seq);
    const last = await b.client.edit(m1.seq, "one, edited twice");
    a.wire.mend();
    await isLive(a.client);
    await eventually(
      () => a.client.seq === last.seq,
      () => `ada at ${a.client.seq}, want ${last.seq}`,
    );
    await a.client.ping();

    assert.equal(a.seen.states.filter((s) => s.state === "live").length, 2);
    const pages = a.wire.last.sentOf("history");
    assert.ok(pages.length >= 2, "the gap took more than one page");
    assert.ok(
      pages.every((f) => f.entries === true),
      "paged as raw entries",
    );
    assert.deepEqual(seqs(a.seen.entries), range(1, last.seq as number));
    assert.deepEqual(view(a.client), view(b.client));
    assert.deepEqual(view(a.client), await storedHistory(main.url, r));
    assert.equal(a.client.messages.get(m1.seq)?.text, "one, edited twice");
    assert.equal(a.client.messages.get(m2.seq)?.deleted, true);
  });

  it("signed users and moderation: the token asked for before every connect; kick and ban stop with why", async () => {
    const env = { PARLEY_DB: `${tempDir()}/parley.db`, PARLEY_JWT_SECRET: SECRET, ...FAST };
    const s1 = await serve(env);
    const r = room();
    let asked = 0;
    const moToken = () => {
      asked++;
      return sign("mo", { name: "Mo", role: "moderator" });
    };
    const mo = open(s1, "ignored", r, { accessToken: moToken });
    const mal = open(s1, "ignored", r, { accessToken: () => sign("mal", { name: "Mal" }) });
    await isLive(mo.client);
    await isLive(mal.client);
    assert.equal(mo.client.me?.sub, "mo");
    assert.equal(mo.client.me?.role, "moderator");
    assert.equal(mal.client.me?.name, "Mal");
    const moId = mo.client.me?.id;

    // Refusals map to their codes.
    const spam = await mal.client.say("spam");
    const own = await mo.client.say("mine");
    await assert.rejects(mal.client.edit(own.seq, "hijacked"), { name: "ParleyError", code: "forbidden" });
    await assert.rejects(mal.client.kick(mo.client.me as User), { name: "ParleyError", code: "forbidden" });
    await assert.rejects(mal.client.react(99_999, "👍"), { name: "ParleyError", code: "not_found" });
    await mal.client.react(own.seq, "👍");
    const noop = await mal.client.react(own.seq, "👍");
    assert.equal(noop.seq, undefined, "a reaction already there: no entry");
    await mo.client.mute(mal.client.me as User, 5, "cool off");
    const muted = await mal.client.say("more spam").catch((e: unknown) => e);
    assert.ok(muted instanceof ParleyError && muted.code === "muted" && (muted.retryAfterMs ?? 0) > 0);
    await mo.client.delete(spam.seq);
    await eventually(() => mal.client.messages.get(spam.seq)?.deleted === true, "the spam erased for mal too");

    // The token is asked for again on a reconnect (a restart here), and the signed user is the same.
    await s1.stop("SIGKILL");
    await serve({ ...env, PORT: String(s1.port) });
    await isLive(mo.client);
    await isLive(mal.client);
    assert.ok(asked >= 2, `the token function was called ${asked} times`);
    assert.equal(mo.client.me?.id, moId);

    await mo.client.kick(mal.client.me as User, "go");
    await eventually(() => mal.client.state === "stopped", "mal stopped");
    assert.deepEqual(mal.seen.states.at(-1), { state: "stopped", code: 1008, reason: "kicked" });
    const back = open(s1, "ignored", r, { accessToken: () => sign("mal", { name: "Mal" }) });
    await isLive(back.client);
    await mo.client.ban(back.client.me as User, { minutes: 5, reason: "again" });
    await eventually(() => back.client.state === "stopped", "mal stopped again");
    assert.deepEqual(back.seen.states.at(-1), { state: "stopped", code: 1008, reason: "banned" });
    const refused = open(s1, "ignored", r, { accessToken: () => sign("mal", { name: "Mal" }) });
    await eventually(() => refused.client.state === "stopped", "mal refused");
    assert.equal(refused.seen.states.at(-1)?.code, 403);
    assert.equal(refused.wire.sockets.length, 1, "a ban is not retried");
    assert.deepEqual(
      mo.seen.moderated.map((e) => e.action),
      ["mute", "kick", "ban"],
    );
  });
});
