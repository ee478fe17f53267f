import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import Database from "better-sqlite3";
import { randomHex } from "../../src/ids.ts";
import type { Message } from "../../src/protocol/index.ts";
import { statementDriver } from "../../src/store/statements.ts";
import { SqlStore } from "../../src/store/store.ts";

function memoryStore() {
  const driver = statementDriver(new Database(":memory:"));
  return { driver, store: new SqlStore(driver) };
}

function message(seq: number, over: Partial<Message> = {}): Message {
  return {
    type: "message",
    seq,
    ts: 1_700_000_000_000 + seq,
    from: { id: "1", name: "ann" },
    text: `m${seq}`,
    ...over,
  };
}

/** Append messages 1..n to `room`, as the room engine would (after meta). */
function fill(store: SqlStore, room: string, n: number, keep = 10_000) {
  store.meta(room);
  for (let seq = 1; seq <= n; seq++) store.append(room, message(seq), keep);
}

const seqs = (messages: Message[]) => messages.map((m) => m.seq);

test("randomHex gives 128 bits of lowercase hex by default", () => {
  assert.match(randomHex(), /^[0-9a-f]{32}$/);
  assert.match(randomHex(8), /^[0-9a-f]{16}$/);
  assert.notEqual(randomHex(), randomHex());
});

describe("SqlStore", () => {
  test("meta creates a room once, with a stable epoch", () => {
    const { store } = memoryStore();
    const first = store.meta("a");
    assert.match(first.epoch, /^[0-9a-f]+$/);
    assert.deepEqual(first, { epoch: first.epoch, seq: 0, lastUserId: 0 });
    assert.deepEqual(store.meta("a"), first);
    assert.notEqual(store.meta("b").epoch, first.epoch);
  });

  test("append commits the message and advances the room's seq", () => {
    const { store } = memoryStore();
    fill(store, "a", 3);
    assert.equal(store.meta("a").seq, 3);
    assert.equal(store.meta("b").seq, 0);
  });

  test("messages round-trip, with ref only when there was one", () => {
    const { store } = memoryStore();
    store.meta("a");
    const withRef = message(1, { ref: "r1", text: "<b>&</b> \u{1F600}", from: { id: "9", name: "Zoë" } });
    store.append("a", withRef, 100);
    store.append("a", message(2), 100);
    const { messages } = store.history("a", 10);
    assert.deepEqual(messages, [withRef, message(2)]);
    assert.equal(Object.hasOwn(messages[1], "ref"), false);
  });

  test("page returns the newest `limit` before `before`, oldest first, with `more`", () => {
    const { store } = memoryStore();
    fill(store, "a", 5);
    let page = store.history("a", 2);
    assert.deepEqual(seqs(page.messages), [4, 5]);
    assert.equal(page.more, true);
    page = store.history("a", 2, 4);
    assert.deepEqual(seqs(page.messages), [2, 3]);
    assert.equal(page.more, true);
    page = store.history("a", 2, 3);
    assert.deepEqual(seqs(page.messages), [1, 2]);
    assert.equal(page.more, false, "exactly `limit` left is not more");
    page = store.history("a", 50, 2);
    assert.deepEqual(seqs(page.messages), [1]);
    assert.equal(page.more, false);
    assert.deepEqual(store.history("a", 5), { messages: store.after("a", 0), more: false });
    assert.deepEqual(store.history("a", 10, 1), { messages: [], more: false });
    assert.deepEqual(store.history("empty", 10), { messages: [], more: false });
  });

  test("rooms do not see each other's messages", () => {
    const { store } = memoryStore();
    fill(store, "a", 3);
    fill(store, "b", 1);
    assert.deepEqual(seqs(store.history("a", 10).messages), [1, 2, 3]);
    assert.deepEqual(seqs(store.history("b", 10).messages), [1]);
    assert.deepEqual(seqs(store.after("b", 0)), [1]);
  });

  test("after returns every message after `since`, oldest first", () => {
    const { store } = memoryStore();
    fill(store, "a", 5);
    assert.deepEqual(seqs(store.after("a", 2)), [3, 4, 5]);
    assert.deepEqual(seqs(store.after("a", 0)), [1, 2, 3, 4, 5]);
    assert.deepEqual(store.after("a", 5), []);
  });

  test("oldestSeq is undefined without history, then the lowest kept seq", () => {
    const { store } = memoryStore();
    assert.equal(store.oldestSeq("a"), undefined);
    fill(store, "a", 2);
    assert.equal(store.oldestSeq("a"), 1);
  });

  test("append prunes history to `keep` messages, the oldest first", () => {
    const { store } = memoryStore();
    fill(store, "a", 7, 3);
    assert.deepEqual(seqs(store.history("a", 100).messages), [5, 6, 7]);
    assert.equal(store.oldestSeq("a"), 5);
    assert.equal(store.meta("a").seq, 7);
    fill(store, "b", 2, 3);
    assert.deepEqual(seqs(store.after("b", 0)), [1, 2], "another room is pruned on its own");
  });

  test("createUser takes ids from a per-room counter", () => {
    const { store } = memoryStore();
    const names: string[] = [];
    const a1 = store.createUser(
      "a",
      (id) => {
        names.push(id);
        return `guest-${id}`;
      },
      "ta1",
    );
    const a2 = store.createUser("a", () => "bob", "ta2");
    const b1 = store.createUser("b", (id) => `guest-${id}`, "tb1");
    assert.deepEqual(a1, { id: "1", name: "guest-1", token: "ta1", posted: false });
    assert.deepEqual(a2, { id: "2", name: "bob", token: "ta2", posted: false });
    assert.deepEqual(b1, { id: "1", name: "guest-1", token: "tb1", posted: false });
    assert.deepEqual(names, ["1"]);
    assert.equal(store.meta("a").lastUserId, 2);
    assert.equal(store.meta("b").lastUserId, 1);
  });

  test("userByToken finds a user in its own room only", () => {
    const { store } = memoryStore();
    const user = store.createUser("a", () => "ann", "tok");
    assert.deepEqual(store.userByToken("a", "tok"), user);
    assert.equal(store.userByToken("a", "other"), undefined);
    assert.equal(store.userByToken("b", "tok"), undefined);
  });

  test("renameUser changes the stored name of that user only", () => {
    const { store } = memoryStore();
    store.createUser("a", () => "ann", "t1");
    store.createUser("a", () => "bob", "t2");
    store.createUser("b", () => "ann", "t3");
    store.renameUser("a", "1", "anna");
    assert.equal(store.userByToken("a", "t1")?.name, "anna");
    assert.equal(store.userByToken("a", "t2")?.name, "bob");
    assert.equal(store.userByToken("b", "t3")?.name, "ann");
  });
});

describe("statementDriver", () => {
  test("a transaction that throws rolls back all of its writes", () => {
    const { driver, store } = memoryStore();
    store.meta("a");
    const boom = new Error("boom");
    assert.throws(
      () =>
        driver.transaction(() => {
          // Both join the outer transaction (the driver nests by joining).
          store.append("a", message(1), 100);
          store.createUser("a", () => "ann", "t");
          throw boom;
        }),
      (err) => err === boom,
    );
    assert.equal(store.meta("a").seq, 0);
    assert.equal(store.meta("a").lastUserId, 0);
    assert.equal(store.oldestSeq("a"), undefined);
    assert.equal(store.userByToken("a", "t"), undefined);

    // The driver is usable again, and a transaction that returns commits and hands back its value.
    assert.equal(
      driver.transaction(() => {
        driver.run("INSERT INTO rooms (name, epoch) VALUES (?, ?)", "c", "e");
        return 42;
      }),
      42,
    );
    assert.deepEqual(driver.all("SELECT name, epoch FROM rooms WHERE name = ?", "c"), [{ name: "c", epoch: "e" }]);
  });

  test("with deferred commits, a turn's join writes share one commit: at the turn's end, or with the next transaction", () => {
    const dir = mkdtempSync(join(tmpdir(), "parley-turn-"));
    try {
      const path = join(dir, "t.db");
      const turnEnds: (() => void)[] = [];
      const store = new SqlStore(statementDriver(new Database(path), (fn) => void turnEnds.push(fn)));
      store.meta("a");
      // A second connection to the file sees only what was committed.
      const other = new Database(path, { readonly: true });
      const committedUsers = () => (other.prepare("SELECT count(*) AS n FROM users").get() as { n: number }).n;
      const ann = store.createUser("a", () => "ann", "t1");
      const bob = store.createUser("a", () => "bob", "t2");
      assert.deepEqual([ann.id, bob.id], ["1", "2"]);
      assert.equal(store.userByToken("a", "t2")?.name, "bob", "the store reads its own writes");
      assert.equal(committedUsers(), 0, "not committed within the turn");
      assert.equal(turnEnds.length, 1, "one commit scheduled for both");
      // A write that throws is undone alone; the turn's other writes stay.
      assert.throws(() => store.createUser("a", () => "dup", "t1"));
      (turnEnds.shift() as () => void)();
      assert.equal(committedUsers(), 2);
      // Entries commit at once, taking the turn's pending writes with them.
      store.createUser("a", () => "cat", "t3");
      store.append("a", message(1), 100);
      assert.equal(committedUsers(), 3, "committed with the entry, before it is sent");
      (turnEnds.shift() as () => void)();
      assert.equal(store.meta("a").lastUserId, 3);
      other.close();
      store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a failed append leaves the room as it was", () => {
    const { store } = memoryStore();
    fill(store, "a", 2);
    // The same seq again violates the primary key.
    assert.throws(() => store.append("a", message(2, { text: "dup" }), 100));
    assert.equal(store.meta("a").seq, 2);
    assert.deepEqual(
      store.after("a", 0).map((m) => m.text),
      ["m1", "m2"],
    );
  });
});

describe("a file-backed store", () => {
  test("keeps epoch, seq, users and messages across a reopen, in WAL mode", (t) => {
    const dir = mkdtempSync(join(tmpdir(), "parley-store-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, "parley.db");

    const db = new Database(path);
    const first = new SqlStore(statementDriver(db));
    assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
    const meta = first.meta("a");
    const user = first.createUser("a", () => "ann", "tok");
    first.renameUser("a", user.id, "anna");
    fill(first, "a", 3);
    first.close();

    const second = new SqlStore(statementDriver(new Database(path)));
    try {
      assert.deepEqual(second.meta("a"), { epoch: meta.epoch, seq: 3, lastUserId: 1 });
      assert.deepEqual(second.userByToken("a", "tok"), { id: "1", name: "anna", token: "tok", posted: false });
      assert.deepEqual(second.after("a", 0), [message(1), message(2), message(3)]);
      assert.equal(second.createUser("a", () => "bob", "tok2").id, "2");
    } finally {
      second.close();
    }
  });
});
