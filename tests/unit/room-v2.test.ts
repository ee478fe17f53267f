/**
 * The room log of PROTOCOL-v2 sections 1 and 3 at the unit level: each entry kind, its rules and
 * refusals, v1 and v2 connections side by side, folded history and raw entries, moderation, signed
 * users, and deletion as erasure (down to the SQLite file's bytes).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import Database from "better-sqlite3";
import type { Identity } from "../../src/auth.ts";
import { loadConfig } from "../../src/config.ts";
import type { Entry, Message, ServerFrame } from "../../src/protocol/index.ts";
import { type JoinRequest, Room } from "../../src/room.ts";
import { Rooms } from "../../src/rooms.ts";
import { statementDriver } from "../../src/store/statements.ts";
import { SqlStore } from "../../src/store/store.ts";
import { FakeConnection } from "../helpers/fake-connection.ts";

const T0 = 1_700_000_000_000;

/** A socket stand-in whose `frames` are the ones not yet taken. */
class Conn extends FakeConnection {
  get frames(): ServerFrame[] {
    return this.sent;
  }
}

const MOD: Identity = { sub: "mo", name: "Mo", role: "moderator" };

function world(dbPath = ":memory:") {
  const store = new SqlStore(statementDriver(new Database(dbPath)));
  const clock = { now: T0 };
  // Rate limits out of the way: these tests are about the log's rules.
  const config = loadConfig({ PARLEY_RATE_BURST: "1000", PARLEY_RATE_PER_SEC: "1000", PARLEY_FRAME_BURST: "1000" });
  const room = new Room("r", { store, config, now: () => clock.now });
  let cid = 0;
  const join = (req: Partial<JoinRequest> = {}) => {
    const c = new Conn();
    room.join(c, { group: `10.0.0.${++cid}`, version: 2, ...req }, `c${cid}`);
    return c;
  };
  const send = (c: Conn, frame: object) => room.receive(c, JSON.stringify(frame));
  return { store, room, clock, join, send };
}

const types = (frames: ServerFrame[]) => frames.map((f) => f.type);
const errorOf = (frames: ServerFrame[]) => {
  const e = frames.find((f) => f.type === "error");
  return e && e.type === "error" ? [e.code, e.ref] : undefined;
};

describe("v2: the room log", () => {
  test("each entry kind reaches every v2 member, the actor included, with by and seq +1; acks carry seq", () => {
    const { join, send } = world();
    const a = join({ name: "ann" });
    const b = join({ name: "bob" });
    a.take();
    b.take();
    send(a, { type: "say", text: "hello", ref: "s" });
    send(b, { type: "say", text: "reply", replyTo: 1, ref: "r" });
    send(a, { type: "edit", target: 1, text: "hello!", ref: "e" });
    send(b, { type: "react", target: 1, emoji: "👍", ref: "x" });
    send(a, { type: "delete", target: 2, ref: "d" });
    const seen = b.take().filter((f) => f.type !== "ack") as Entry[];
    assert.deepEqual(types(seen), ["message", "message", "edited", "reacted"]);
    const mine = a.take();
    const all = mine.filter((f) => f.type !== "ack" && f.type !== "error") as Entry[];
    assert.deepEqual(
      all.map((e) => [e.type, e.seq]),
      [
        ["message", 1],
        ["message", 2],
        ["edited", 3],
        ["reacted", 4],
      ],
    );
    // The delete of someone else's message was refused: b's reply is b's.
    assert.deepEqual(errorOf(mine), ["forbidden", "d"]);
  });

  test("only the author edits; only the author or a moderator deletes; refusals change nothing", () => {
    const { join, send, room } = world();
    const a = join({ name: "ann" });
    const b = join({ name: "bob" });
    send(a, { type: "say", text: "mine" });
    b.take();
    send(b, { type: "edit", target: 1, text: "hijacked", ref: "e" });
    assert.deepEqual(errorOf(b.take()), ["forbidden", "e"]);
    send(b, { type: "delete", target: 1, ref: "d" });
    assert.deepEqual(errorOf(b.take()), ["forbidden", "d"]);
    send(b, { type: "edit", target: 9, text: "x", ref: "n" });
    assert.deepEqual(errorOf(b.take()), ["not_found", "n"]);
    send(b, { type: "say", text: "x", replyTo: 9, ref: "q" });
    assert.deepEqual(errorOf(b.take()), ["not_found", "q"]);
    assert.equal(room.info().seq, 1, "nothing was made");
    const mod = join({ identity: MOD });
    send(mod, { type: "delete", target: 1, ref: "m" });
    assert.ok(mod.take().some((f) => f.type === "ack" && "seq" in f && f.seq === 2));
  });

  test("an edit past the window is forbidden", () => {
    const { join, send, clock } = world();
    const a = join();
    send(a, { type: "say", text: "old" });
    clock.now += 24 * 3600_000 + 1;
    a.take();
    send(a, { type: "edit", target: 1, text: "new", ref: "e" });
    assert.deepEqual(errorOf(a.take()), ["forbidden", "e"]);
  });

  test("reactions: on and off, a duplicate acked with no seq, at most 20 emoji, bad emoji refused", () => {
    const { join, send, store } = world();
    const a = join();
    send(a, { type: "say", text: "react to me" });
    a.take();
    send(a, { type: "react", target: 1, emoji: "🎉", ref: "1" });
    send(a, { type: "react", target: 1, emoji: "🎉", ref: "2" });
    const frames = a.take();
    assert.deepEqual(frames.at(-1), { type: "ack", ref: "2" }, "a reaction already there changes nothing");
    assert.deepEqual(store.message("r", 1)?.reactions, { "🎉": [a.uid] });
    send(a, { type: "react", target: 1, emoji: "🎉", on: false, ref: "3" });
    assert.equal(store.message("r", 1)?.reactions, undefined);
    for (let i = 0; i < 20; i++) send(a, { type: "react", target: 1, emoji: `e${i}` });
    a.take();
    send(a, { type: "react", target: 1, emoji: "e20", ref: "21" });
    assert.deepEqual(errorOf(a.take()), ["bad_frame", "21"]);
    for (const emoji of ["", "a b", "x".repeat(17), "\u0001"]) {
      send(a, { type: "react", target: 1, emoji, ref: "bad" });
      assert.deepEqual(errorOf(a.take()), ["bad_frame", "bad"], JSON.stringify(emoji));
    }
  });

  test("a v1 connection gets message entries only, as v1 frames, and v1 frames still work", () => {
    const { join, send } = world();
    const v1 = join({ version: 1 });
    const v2 = join();
    v1.take();
    send(v2, { type: "say", text: "hi", ref: "s" });
    send(v2, { type: "react", target: 1, emoji: "👍" });
    const got = v1.take();
    assert.deepEqual(got, [
      {
        type: "message",
        seq: 1,
        ts: T0,
        from: v2.record && { id: v2.uid, name: v2.record.name },
        text: "hi",
        ref: "s",
      },
    ]);
    send(v1, { type: "say", text: "from v1", ref: "a" });
    assert.deepEqual(types(v1.take()), ["message", "ack"]);
    send(v1, { type: "react", target: 1, emoji: "👍", ref: "r" });
    assert.deepEqual(errorOf(v1.take()), ["bad_frame", "r"], "v2 frames are unknown to a v1 connection");
  });

  test("folded history and a v2 resume of raw entries", () => {
    const { join, send, store, room } = world();
    const a = join();
    send(a, { type: "say", text: "one" });
    send(a, { type: "say", text: "two" });
    send(a, { type: "edit", target: 1, text: "uno" });
    send(a, { type: "react", target: 2, emoji: "🔥" });
    const page = store.history("r", 10);
    assert.deepEqual(
      page.messages.map((m) => [m.seq, m.text, m.edited !== undefined, m.reactions]),
      [
        [1, "uno", true, undefined],
        [2, "two", false, { "🔥": [a.uid] }],
      ],
    );
    const back = new Conn();
    room.join(back, { group: "g", version: 2, since: 0, epoch: room.epoch }, "back");
    const welcome = back.frames[0];
    assert.ok(welcome.type === "welcome" && welcome.resumed);
    if (welcome.type === "welcome")
      assert.deepEqual(types(welcome.messages as ServerFrame[]), ["message", "message", "edited", "reacted"]);
    back.take();
    send(back, { type: "history", before: 100, entries: true, ref: "h" });
    const h = back.take()[0];
    assert.ok(h.type === "history" && "entries" in h && h.entries.length === 4);
  });
});

describe("v2: deleting erases", () => {
  test("a deleted message's text is served nowhere: history, raw entries, its earlier edits", () => {
    const { join, send, store } = world();
    const a = join();
    send(a, { type: "say", text: "secret-one" });
    send(a, { type: "edit", target: 1, text: "secret-two" });
    send(a, { type: "delete", target: 1 });
    const m = store.message("r", 1) as Message;
    assert.deepEqual([m.text, m.deleted, m.edited], ["", true, undefined]);
    const raw = JSON.stringify(store.entriesAfter("r", 0));
    assert.doesNotMatch(raw, /secret/);
    send(a, { type: "edit", target: 1, text: "again", ref: "x" });
    assert.deepEqual(errorOf(a.take()), ["not_found", "x"], "a deleted message cannot be edited");
  });

  test("the SQLite file, WAL included, no longer holds the text", (t) => {
    const dir = mkdtempSync(join(tmpdir(), "parley-erase-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const { join: enter, send } = world(join(dir, "parley.db"));
    const a = enter();
    const marker = "ERASE-ME-7f3a9c";
    send(a, { type: "say", text: `${marker} first` });
    send(a, { type: "edit", target: 1, text: `${marker} edited` });
    send(a, { type: "say", text: "stays" });
    const bytes = () =>
      readdirSync(dir)
        .map((f) => readFileSync(join(dir, f)).toString("latin1"))
        .join("");
    assert.match(bytes(), new RegExp(marker), "the text is on disk before the delete");
    send(a, { type: "delete", target: 1 });
    assert.doesNotMatch(bytes(), new RegExp(marker));
    assert.match(bytes(), /stays/);
  });
});

describe("v2: moderation", () => {
  test("kick closes every connection of the user with 1008 kicked, after the entry", () => {
    const { join, send } = world();
    const mod = join({ identity: MOD });
    const x = join({ name: "x" });
    send(mod, { type: "kick", user: x.uid, reason: "spam", ref: "k" });
    assert.deepEqual(x.closed, [{ code: 1008, reason: "kicked" }]);
    const entry = x.frames.find((f) => f.type === "moderated");
    assert.deepEqual(entry?.type === "moderated" && [entry.action, entry.user.id, entry.reason], [
      "kick",
      x.uid,
      "spam",
    ]);
  });

  test("ban: closed 1008 banned, refused at the door (by sub, token and address group), until unban", () => {
    const { store } = world();
    const rooms = new Rooms(store, loadConfig({}));
    const mod = new Conn();
    rooms.join("r", mod, { group: "m", version: 2, identity: MOD });
    const guest = new Conn();
    rooms.join("r", guest, { group: "203.0.113.5", version: 2 });
    rooms.receive(mod, JSON.stringify({ type: "ban", user: guest.uid, ref: "b" }));
    assert.deepEqual(guest.closed, [{ code: 1008, reason: "banned" }]);
    rooms.leave(guest);
    const token = guest.record?.token as string;
    assert.equal(rooms.admission("r", { token, group: "198.51.100.1" })?.code, "banned", "by token");
    assert.equal(rooms.admission("r", { group: "203.0.113.5" })?.code, "banned", "by address group");
    assert.equal(rooms.admission("r", { group: "198.51.100.1" }), undefined);
    assert.equal(
      rooms.admission("r", { identity: { sub: "z", name: "z", role: "member" }, group: "203.0.113.5" }),
      undefined,
      "signed users are not banned by group",
    );
    rooms.receive(mod, JSON.stringify({ type: "unban", user: guest.uid, ref: "u" }));
    assert.equal(rooms.admission("r", { token, group: "203.0.113.5" }), undefined);
    rooms.receive(mod, JSON.stringify({ type: "unban", user: guest.uid, ref: "u2" }));
    assert.deepEqual(mod.frames.at(-1), { type: "ack", ref: "u2" }, "an unban that changes nothing");
  });

  test("a signed user is banned by sub, across a restart of the room", () => {
    const { store, join, send, clock } = world();
    // The ban is checked at the door against the real clock.
    clock.now = Date.now();
    const mod = join({ identity: MOD });
    const eve = join({ identity: { sub: "eve", name: "Eve", role: "member" } });
    send(mod, { type: "ban", user: eve.uid, minutes: 60, ref: "b" });
    const rooms = new Rooms(store, loadConfig({}));
    assert.equal(
      rooms.admission("r", { identity: { sub: "eve", name: "Eve", role: "member" }, group: "x" })?.code,
      "banned",
    );
  });

  test("mute: say, edit and react get muted with retryAfterMs; minutes 0 unmutes", () => {
    const { join, send } = world();
    const mod = join({ identity: MOD });
    const x = join();
    send(x, { type: "say", text: "before" });
    send(mod, { type: "mute", user: x.uid, minutes: 5 });
    x.take();
    mod.take();
    send(x, { type: "say", text: "muted?", ref: "s" });
    const e = x.take().find((f) => f.type === "error");
    assert.ok(e && e.type === "error" && e.code === "muted" && (e.retryAfterMs ?? 0) > 0);
    send(x, { type: "react", target: 1, emoji: "👍", ref: "r" });
    assert.deepEqual(errorOf(x.take()), ["muted", "r"]);
    send(mod, { type: "mute", user: x.uid, minutes: 0, ref: "u" });
    const unmute = mod.take().find((f) => f.type === "moderated");
    assert.ok(unmute && unmute.type === "moderated" && unmute.action === "unmute");
    send(x, { type: "say", text: "free", ref: "f" });
    assert.ok(x.take().some((f) => f.type === "ack"));
  });

  test("members may not moderate; moderators may not act on moderators; signed users may not rename", () => {
    const { join, send } = world();
    const mod = join({ identity: MOD });
    const other = join({ identity: { sub: "m2", name: "M2", role: "moderator" } });
    const x = join();
    for (const frame of [
      { type: "kick", user: mod.uid },
      { type: "ban", user: mod.uid },
      { type: "mute", user: mod.uid, minutes: 1 },
    ]) {
      send(x, { ...frame, ref: "f" });
      assert.deepEqual(errorOf(x.take()), ["forbidden", "f"]);
    }
    send(mod, { type: "kick", user: other.uid, ref: "k" });
    assert.deepEqual(errorOf(mod.take()), ["forbidden", "k"]);
    send(mod, { type: "rename", name: "new", ref: "n" });
    assert.deepEqual(errorOf(mod.take()), ["forbidden", "n"]);
  });
});

describe("v2: signed users", () => {
  test("the same sub is the same user id from two devices; the token's name wins", () => {
    const { join } = world();
    const one = join({ identity: { sub: "alice", name: "Alice", role: "member" } });
    const two = join({ identity: { sub: "alice", name: "Alice", role: "member" }, name: "ignored" });
    assert.equal(one.uid, two.uid);
    const w = two.frames[0];
    assert.ok(w.type === "welcome" && w.you.name === "Alice" && w.you.sub === "alice");
    assert.equal(w.type === "welcome" && w.members.length, 1);
  });

  test("an anonymous request with a signed user's reconnect token is refused 401", () => {
    const { store, join } = world();
    const alice = join({ identity: { sub: "alice", name: "Alice", role: "member" } });
    const rooms = new Rooms(store, loadConfig({}));
    assert.equal(rooms.admission("r", { token: alice.record?.token, group: "g" })?.status, 401);
  });
});

describe("v2: a v1 database upgrades in place", () => {
  test("history, epoch and seq are kept, and the room continues", (t) => {
    const dir = mkdtempSync(join(tmpdir(), "parley-v1db-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, "parley.db");
    const db = new Database(path);
    db.exec(`
      CREATE TABLE rooms (name TEXT PRIMARY KEY, epoch TEXT NOT NULL, seq INTEGER NOT NULL DEFAULT 0,
        last_user_id INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE messages (room TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL, user_id TEXT NOT NULL,
        user_name TEXT NOT NULL, text TEXT NOT NULL, ref TEXT, PRIMARY KEY (room, seq)) WITHOUT ROWID;
      CREATE TABLE users (room TEXT NOT NULL, token TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL,
        PRIMARY KEY (room, token)) WITHOUT ROWID;
      CREATE INDEX users_by_id ON users (room, id);
      INSERT INTO rooms VALUES ('r', 'v1epoch', 2, 1);
      INSERT INTO messages VALUES ('r', 1, ${T0 - 2000}, '1', 'ann', 'first', 'a'), ('r', 2, ${T0 - 1000}, '1', 'ann', 'second', NULL);
      INSERT INTO users VALUES ('r', 'tok', '1', 'ann');
    `);
    db.close();
    const store = new SqlStore(statementDriver(new Database(path)));
    const room = new Room("r", { store, config: loadConfig({}), now: () => T0 });
    const c = new Conn();
    room.join(c, { group: "g", version: 2, token: "tok" }, "c1");
    const w = c.frames[0];
    assert.ok(w.type === "welcome");
    if (w.type !== "welcome") return;
    assert.deepEqual([w.epoch, w.seq, w.you.id], ["v1epoch", 2, "1"]);
    assert.deepEqual(
      (w.messages as Message[]).map((m) => m.text),
      ["first", "second"],
    );
    room.receive(c, JSON.stringify({ type: "edit", target: 1, text: "first!", ref: "e" }));
    assert.ok(c.frames.some((f) => f.type === "ack" && "seq" in f && f.seq === 3));
    assert.equal(store.message("r", 1)?.text, "first!");
  });
});
