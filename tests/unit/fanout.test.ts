/**
 * The broadcast metric counts each frame once, with the connections it went to, on every path: a room
 * of one version, a room of both (each version's form goes to its own speakers), and a native publish.
 */
import assert from "node:assert/strict";
import { afterEach, describe, test } from "node:test";
import Database from "better-sqlite3";
import { loadConfig } from "../../src/config.ts";
import { type Labels, useMeter } from "../../src/metrics.ts";
import { Room } from "../../src/room.ts";
import { statementDriver } from "../../src/store/statements.ts";
import { SqlStore } from "../../src/store/store.ts";
import { FakeConnection } from "../helpers/fake-connection.ts";

/** A connection that subscribes to topics, as Bun's does. */
class Subscriber extends FakeConnection {
  readonly topics = new Set<string>();
  subscribe(topic: string) {
    this.topics.add(topic);
  }
}

function world(native: boolean) {
  const fanouts: number[] = [];
  useMeter({
    count: () => {},
    observe: (name: string, value: number, _labels?: Labels) => {
      if (name === "broadcast_fanout") fanouts.push(value);
    },
  });
  const conns: Subscriber[] = [];
  let published = 0;
  const publish = (topic: string, frame: string) => {
    published++;
    for (const c of conns) if (c.topics.has(topic)) c.send(frame);
  };
  const store = new SqlStore(statementDriver(new Database(":memory:")));
  const room = new Room("r", { store, config: loadConfig({}), publish: native ? publish : undefined });
  const join = (version: 1 | 2) => {
    const c = new Subscriber();
    conns.push(c);
    room.join(c, { group: `10.0.0.${conns.length}`, version }, `c${conns.length}`);
    return c;
  };
  const say = (c: FakeConnection, text: string) => room.receive(c, JSON.stringify({ type: "say", text }));
  return { fanouts, join, say, published: () => published };
}

afterEach(() => useMeter({ count: () => {}, observe: () => {} }));

for (const native of [false, true]) {
  describe(`broadcast_fanout, ${native ? "with a native publish" : "one send per member"}`, () => {
    test("a room of one version: one observation per message, with every member", () => {
      const w = world(native);
      const [a, b, c] = [w.join(2), w.join(2), w.join(2)];
      for (const x of [a, b, c]) x.take();
      w.fanouts.length = 0;
      w.say(a, "hello");
      assert.deepEqual(w.fanouts, [3]);
      for (const x of [a, b, c])
        assert.deepEqual(
          x
            .take()
            .map((f) => f.type)
            .filter((t) => t === "message"),
          ["message"],
        );
    });

    test("a room of both versions: each version's form is counted with its own speakers", () => {
      const w = world(native);
      const [v1a, v1b, v2a] = [w.join(1), w.join(1), w.join(2)];
      for (const x of [v1a, v1b, v2a]) x.take();
      w.fanouts.length = 0;
      const before = w.published();
      w.say(v2a, "hello");
      assert.deepEqual(w.fanouts, [2, 1], "the v1 form to two, the v2 form to one");
      if (native) assert.equal(w.published() - before, 2, "one publish per form");
      for (const x of [v1a, v1b, v2a]) assert.equal(x.take().filter((f) => f.type === "message").length, 1);
    });
  });
}
