/**
 * Big rooms (docs/protocol.md, "Big rooms"): v2 presence batched into `presence` frames once a room has
 * PARLEY_LARGE_ROOM users, v1 connections still told each join and leave, a welcome that lists one page
 * of users, and `members` pages in join order.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import Database from "better-sqlite3";
import { loadConfig } from "../../src/config.ts";
import { MEMBERS_PAGE, type MembersPage, type PresenceFrame, type ServerFrame } from "../../src/protocol/index.ts";
import { type JoinRequest, Room } from "../../src/room.ts";
import { statementDriver } from "../../src/store/statements.ts";
import { SqlStore } from "../../src/store/store.ts";
import { FakeConnection } from "../helpers/fake-connection.ts";

/** A room whose big-room timer is in the test's hand: `tick()` fires what it scheduled. */
function world(env: Record<string, string> = {}) {
  const store = new SqlStore(statementDriver(new Database(":memory:")));
  const config = loadConfig({
    PARLEY_MAX_MEMBERS_PER_IP: "100000",
    PARLEY_MAX_MEMBERS: "100000",
    PARLEY_LARGE_ROOM: "4",
    PARLEY_PRESENCE_MS: "1000",
    ...env,
  });
  const timers: { fn: () => void; ms: number }[] = [];
  const room = new Room("r", { store, config, later: (fn, ms) => void timers.push({ fn, ms }) });
  let cid = 0;
  const join = (version: 1 | 2 = 2, req: Partial<JoinRequest> = {}) => {
    const c = new FakeConnection();
    room.join(c, { group: "g", version, name: `u${cid + 1}`, ...req }, `c${++cid}`);
    return c;
  };
  const tick = () => {
    for (const t of timers.splice(0)) t.fn();
  };
  return { room, join, tick, timers };
}

const ofType = <T extends ServerFrame["type"]>(c: FakeConnection, type: T) =>
  c.take().filter((f) => f.type === type) as Extract<ServerFrame, { type: T }>[];
const ids = (users: { id: string }[]) => users.map((u) => u.id);

describe("big rooms: presence", () => {
  test("below PARLEY_LARGE_ROOM a v2 member is told each join and leave at once, as v1 is", () => {
    const { join, timers } = world();
    const a = join(2);
    const b = join(1);
    a.take();
    b.take();
    const c = join(2);
    assert.deepEqual(ids(ofType(a, "joined").map((f) => f.user)), [c.uid]);
    assert.deepEqual(ids(ofType(b, "joined").map((f) => f.user)), [c.uid]);
    assert.equal(timers.length, 0, "nothing batched");
  });

  test("from PARLEY_LARGE_ROOM users on, v2 gets one presence frame per interval with the net change; v1 each change", () => {
    const { room, join, tick, timers } = world();
    const v2 = join(2);
    const v1 = join(1);
    join(2);
    v2.take();
    v1.take();
    // The fourth user makes the room big: their join, and every change after it, is batched for v2.
    const d = join(2);
    const e = join(2);
    const f = join(2);
    room.leave(e);
    const g = join(2);
    room.leave(v1);
    assert.deepEqual(ofType(v2, "joined"), [], "no joined for v2 in a big room");
    assert.deepEqual(ofType(v2, "left"), []);
    assert.equal(timers.length, 1, "one flush scheduled");
    assert.equal(timers[0]?.ms, 1000);
    tick();
    const [presence, ...others] = ofType(v2, "presence") as PresenceFrame[];
    assert.equal(others.length, 0);
    // e joined and left between two frames: never heard of. v1 left: told.
    assert.deepEqual(ids(presence?.joined ?? []), [d.uid, f.uid, g.uid]);
    assert.deepEqual(ids(presence?.left ?? []), [v1.uid]);
    assert.equal(presence?.count, room.size);
    // v1 heard every change as it happened (it left last, so it saw the rest).
    assert.deepEqual(
      v1.take().map((fr) => `${fr.type}:${"user" in fr ? fr.user.id : ""}`),
      [`joined:${d.uid}`, `joined:${e.uid}`, `joined:${f.uid}`, `left:${e.uid}`, `joined:${g.uid}`],
    );
  });

  test("a user who leaves and comes back between two frames is told as joined, with the name they came back with", () => {
    const { room, join, tick } = world({ PARLEY_LARGE_ROOM: "2" });
    const a = join(2);
    const b = join(2);
    tick();
    a.take();
    const token = b.welcome.token;
    room.leave(b);
    join(2, { token, name: "bee" });
    tick();
    const [presence] = ofType(a, "presence");
    assert.deepEqual(presence?.joined, [{ id: b.uid, name: "bee" }]);
    assert.deepEqual(presence?.left, []);
  });

  test("PARLEY_PRESENCE_MS=0 sends the batch at the end of the turn", () => {
    const { join, timers } = world({ PARLEY_PRESENCE_MS: "0" });
    for (let i = 0; i < 5; i++) join(2);
    assert.equal(timers[0]?.ms, 0);
  });
});

describe("big rooms: the member list", () => {
  test("a v2 welcome lists at most one page of users, with memberCount and the cursor of the rest; v1's lists all", () => {
    const { join } = world({ PARLEY_LARGE_ROOM: "100000" });
    const all = Array.from({ length: MEMBERS_PAGE + 30 }, () => join(2));
    const v2 = join(2);
    const v1 = join(1);
    assert.equal(v2.welcome.members.length, MEMBERS_PAGE);
    assert.deepEqual(ids(v2.welcome.members), ids(all.slice(0, MEMBERS_PAGE).map((c) => c.welcome.you)));
    assert.equal(v2.welcome.memberCount, MEMBERS_PAGE + 31);
    assert.equal(typeof v2.welcome.membersNext, "number");
    assert.equal(v1.welcome.members.length, MEMBERS_PAGE + 32);
    assert.equal(v1.welcome.memberCount, undefined, "v1's welcome is as it was");
    // A small room's v2 welcome is complete: no cursor.
    const small = world().join(2);
    assert.equal(small.welcome.memberCount, 1);
    assert.equal(small.welcome.membersNext, undefined);
  });

  test("members pages walk the room in join order to its end, each user once, and echo the ref", () => {
    const { room, join } = world({ PARLEY_LARGE_ROOM: "100000" });
    const all = Array.from({ length: 249 }, () => join(2));
    const me = join(2);
    all.push(me);
    me.take();
    const seen: string[] = ids(me.welcome.members);
    let after = me.welcome.membersNext;
    let pages = 0;
    while (after !== undefined) {
      room.receive(me, JSON.stringify({ type: "members", after, limit: 60, ref: `m${pages}` }));
      const [page] = ofType(me, "members") as MembersPage[];
      assert.equal(page?.ref, `m${pages}`);
      assert.equal(page?.count, 250);
      seen.push(...ids(page?.members ?? []));
      after = page?.next;
      pages++;
    }
    assert.equal(pages, 3, "150 users after the first 100, in pages of 60");
    assert.deepEqual(seen, ids(all.map((c) => c.welcome.you)));
    room.receive(me, JSON.stringify({ type: "members", limit: 501 }));
    const [error] = ofType(me, "error");
    assert.equal(error?.code, "bad_frame");
  });

  test("members is a v2 frame: a v1 connection gets bad_frame for it", () => {
    const { room, join } = world();
    const v1 = join(1);
    v1.take();
    room.receive(v1, JSON.stringify({ type: "members" }));
    assert.deepEqual(
      v1.take().map((f) => (f.type === "error" ? f.code : f.type)),
      ["bad_frame"],
    );
  });
});
