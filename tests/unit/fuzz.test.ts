/**
 * Property-based fuzz of the receive path: whatever a client sends, the room answers exactly as
 * docs/protocol.md says, never throws, and leaves the global prototypes alone.
 *
 * The answers are checked against an oracle written from the protocol page, not from parseClientFrame:
 * reusing the parser as its own judge would only prove that it agrees with itself. The oracle also keeps a
 * model of the room (seq, stored history, the sender's name, rate bucket, strikes, typing throttle), so a
 * history page must match what was broadcast, byte for byte.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { describe, test } from "node:test";
import fc from "fast-check";
import type { WSContext } from "hono/ws";
import { openSqlite } from "../../src/adapter/node/sqlite.ts";
import { socketEvents } from "../../src/app.ts";
import { type Config, loadConfig } from "../../src/config.ts";
import type { ErrorCode, Message, ServerFrame, User } from "../../src/protocol/index.ts";
import { Room } from "../../src/room.ts";
import { Rooms } from "../../src/rooms.ts";
import { SqlStore } from "../../src/store/store.ts";
import { FakeConnection } from "../helpers/fake-connection.ts";

const ROOM = "fuzz";
const T0 = 1_700_000_000_000;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

// A new seed every run, so that each run tries new inputs; a failure prints its seed and path, which
// `fc.assert(…, { seed, path })` replays. These counts keep the whole file within a few seconds.
const RUNS = { main: 800, limits: 400, app: 500 };

// ---- a socket stand-in ----------------------------------------------------------------------

/** Records what the room sends (raw, so a frame that is not JSON fails the test instead of the send). */
class FakeConn extends FakeConnection {
  /** The codes of the closes since the last call. */
  takeCloses(): number[] {
    return this.closed.splice(0).map((c) => c.code);
  }
}

// ---- the global prototypes ------------------------------------------------------------------

const PROTOS = {
  Object: Object.prototype,
  Array: Array.prototype,
  Function: Function.prototype,
  String: String.prototype,
};
/** Keys a polluted prototype would most likely gain: the frame's own field names and the usual probes. */
const WATCHED = ["polluted", "isAdmin", "type", "text", "ref", "name", "before", "limit", "x", "a", "0"];

type Snapshot = Map<string, Map<PropertyKey, PropertyDescriptor>>;
function snapshotPrototypes(): Snapshot {
  return new Map(
    Object.entries(PROTOS).map(([name, proto]) => [
      name,
      new Map(Reflect.ownKeys(proto).map((k) => [k, Object.getOwnPropertyDescriptor(proto, k) as PropertyDescriptor])),
    ]),
  );
}
const PRISTINE = snapshotPrototypes();

function assertPristine(extraKeys: Iterable<string> = []): void {
  for (const [name, proto] of Object.entries(PROTOS)) {
    const was = PRISTINE.get(name) as Map<PropertyKey, PropertyDescriptor>;
    assert.deepEqual(
      Reflect.ownKeys(proto).map(String).sort(),
      [...was.keys()].map(String).sort(),
      `${name}.prototype gained or lost properties`,
    );
    for (const [key, desc] of was) {
      const now = Object.getOwnPropertyDescriptor(proto, key) as PropertyDescriptor;
      for (const f of ["value", "get", "set", "writable", "enumerable", "configurable"] as const) {
        assert.ok(Object.is(now[f], desc[f]), `${name}.prototype.${String(key)} changed its ${f}`);
      }
    }
  }
  assert.equal(Object.getPrototypeOf({}), Object.prototype);
  const probe: Record<string, unknown> = {};
  for (const key of [...WATCHED, ...extraKeys]) {
    if (!PRISTINE.get("Object")?.has(key)) assert.equal(probe[key], undefined, `({}).${key} is defined`);
  }
}

// ---- the oracle -----------------------------------------------------------------------------

/** What the protocol says one frame is, before the rate bucket and the strikes are consulted. */
type Verdict =
  | { kind: "close"; code: 1003 | 1009 }
  | { kind: "dropped"; answered: boolean }
  | { kind: "reject"; code: ErrorCode; ref?: string }
  | { kind: "say"; text: string; ref?: string }
  | { kind: "rename"; name: string; ref?: string }
  | { kind: "typing" }
  | { kind: "history"; before: number; limit: number; ref?: string }
  | { kind: "ping"; ref?: string };

// UTF-8 (SQLite's encoding) cannot hold a lone surrogate. What is stored and what is broadcast must be the
// same text, so a text or name carries U+FFFD in its place, and a ref, which must come back exactly, is refused.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const wellFormed = (s: string) => s.search(LONE_SURROGATE) < 0;
const replaced = (s: string) => s.replace(LONE_SURROGATE, "\ufffd");
const isRef = (v: unknown): v is string => typeof v === "string" && v.length <= 64 && wellFormed(v);
const isInt = (v: unknown, min: number, max: number): v is number =>
  typeof v === "number" && Number.isInteger(v) && v >= min && v <= max;

function judge(data: unknown, config: Config): Verdict {
  if (typeof data !== "string") return { kind: "close", code: 1003 };
  if (Buffer.byteLength(data, "utf8") > config.maxFrameBytes) return { kind: "close", code: 1009 };
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return { kind: "reject", code: "bad_json" };
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) return { kind: "reject", code: "bad_frame" };
  const f = json as Record<string, unknown>;
  const own = (k: string) => (Object.hasOwn(f, k) ? f[k] : undefined);
  // The rejected frame's ref comes back only when it was itself a valid ref.
  const ref = isRef(own("ref")) ? (own("ref") as string) : undefined;
  const refOk = !Object.hasOwn(f, "ref") || isRef(f.ref);
  const badFrame: Verdict = { kind: "reject", code: "bad_frame", ...(ref !== undefined && { ref }) };
  const withRef = ref !== undefined ? { ref } : {};
  switch (own("type")) {
    case "say": {
      const text = own("text");
      if (typeof text !== "string" || !refOk) return badFrame;
      if (text.length > config.maxText) return { kind: "reject", code: "too_long", ...withRef };
      if (text.trim() === "") return badFrame;
      // C0 and C1 controls other than tab, line feed and carriage return (PROTOCOL-v2 section 5).
      if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/.test(text)) return badFrame;
      return { kind: "say", text: replaced(text), ...withRef };
    }
    case "rename": {
      const name = own("name");
      if (typeof name !== "string" || !refOk) return badFrame;
      const trimmed = replaced(name).trim().normalize("NFC");
      const control = /[\u0000-\u001f\u007f-\u009f]/.test(trimmed);
      const invisible = /[\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]/.test(trimmed);
      if (trimmed.length < 1 || trimmed.length > 32 || control || invisible) {
        return { kind: "reject", code: "bad_name", ...withRef };
      }
      return { kind: "rename", name: trimmed, ...withRef };
    }
    case "typing":
      return { kind: "typing" };
    case "history": {
      const before = own("before");
      const limit = own("limit");
      if (!isInt(before, 0, MAX_SAFE) || !refOk) return badFrame;
      if (Object.hasOwn(f, "limit") && !isInt(limit, 1, 100)) return badFrame;
      return { kind: "history", before, limit: (limit as number | undefined) ?? 50, ...withRef };
    }
    case "ping":
      return refOk ? { kind: "ping", ...withRef } : badFrame;
    default:
      return badFrame;
  }
}

// ---- one room, three connections, and its model ---------------------------------------------

interface Model {
  seq: number;
  /** Every message ever committed, as it was broadcast. */
  messages: Message[];
  user: User;
  typingAt: number;
  bucket: number;
  bucketAt: number;
  frames: number;
  framesAt: number;
  limitedAt: number;
  strikes: number;
  strikesAt: number;
}

/**
 * `a` sends everything; `a2` is a second connection of the same user (messages and renames reach it,
 * typing does not); `b` is another user.
 */
class World {
  readonly clock = { now: T0 };
  readonly store = new SqlStore(openSqlite(":memory:"));
  readonly room: Room;
  a = new FakeConn();
  readonly a2 = new FakeConn();
  readonly b = new FakeConn();
  readonly model: Model;
  /** The last step's `retryAfterMs`, when it was refused by the rate bucket and the connection stayed. */
  retryAfterMs: number | undefined;
  private token: string;
  private cid = 0;

  constructor(
    readonly config: Config,
    prefill: number,
  ) {
    const messages: Message[] = [];
    this.store.meta(ROOM);
    for (let seq = 1; seq <= prefill; seq++) {
      const m: Message = { type: "message", seq, ts: T0 - 1000 + seq, from: { id: "0", name: "old" }, text: `m${seq}` };
      if (seq % 2) m.ref = `p${seq}`;
      this.store.append(ROOM, m, config.historyLimit);
      messages.push(m);
    }
    this.room = new Room(ROOM, { store: this.store, config, now: () => this.clock.now });
    this.join(this.a, { name: "ann" });
    const welcome = this.a.take()[0];
    assert.equal(welcome.type, "welcome");
    this.token = welcome.type === "welcome" ? welcome.token : "";
    this.join(this.a2, { token: this.token });
    this.join(this.b, { name: "bob" });
    for (const c of [this.a, this.a2, this.b]) c.take();
    const user = welcome.type === "welcome" ? welcome.you : { id: "", name: "" };
    this.model = {
      seq: prefill,
      messages,
      user,
      typingAt: 0,
      bucket: config.rateBurst,
      bucketAt: T0,
      frames: config.frameBurst,
      framesAt: T0,
      limitedAt: 0,
      strikes: 0,
      strikesAt: 0,
    };
  }

  private join(conn: FakeConn, req: { name?: string; token?: string }) {
    assert.equal(this.room.join(conn, { group: "10.0.0.1", ...req }, `c${++this.cid}`), true);
  }

  /** What a runtime does after the room closed `a`: its close event makes it leave; the client comes back. */
  reconnect() {
    assert.equal(this.room.leave(this.a), true);
    // A fresh connection brings a fresh typing record; move past the throttle so that the protocol's
    // "one per user per 2 s" and the per-connection record agree (docs/security.md, "Not fixed: a reconnect resets the typing throttle").
    this.clock.now += this.config.typingIntervalMs;
    this.a = new FakeConn();
    this.join(this.a, { token: this.token });
    const frames = this.a.take();
    assert.deepEqual(
      frames.map((f) => f.type),
      ["welcome"],
    );
    assert.deepEqual(this.a2.take(), [], "a second connection of a present user is no news");
    assert.deepEqual(this.b.take(), []);
    Object.assign(this.model, {
      bucket: this.config.rateBurst,
      bucketAt: this.clock.now,
      frames: this.config.frameBurst,
      framesAt: this.clock.now,
      limitedAt: 0,
      strikes: 0,
      strikesAt: 0,
    });
  }

  /** Send one frame from `a` after `dt` ms and check every connection's answer against the oracle. */
  step(data: unknown, dt: number): string {
    this.clock.now += dt;
    const now = this.clock.now;
    const m = this.model;
    const cfg = this.config;
    let verdict = judge(data, cfg);
    this.retryAfterMs = undefined;

    // The frame budget (PROTOCOL-v2 section 5): every frame that is read takes from it before it is
    // parsed; one over it is dropped and struck, and answered at most once a second.
    let retryAfterMs: number | undefined;
    let overBudget = false;
    if (verdict.kind !== "close") {
      const tokens = Math.min(cfg.frameBurst, m.frames + Math.max(0, ((now - m.framesAt) / 1000) * cfg.framePerSec));
      m.framesAt = now;
      if (tokens >= 1) m.frames = tokens - 1;
      else {
        m.frames = tokens;
        overBudget = true;
        const wait = Math.ceil(((1 - tokens) / cfg.framePerSec) * 1000);
        const answered = now - m.limitedAt >= 1000;
        if (answered) {
          m.limitedAt = now;
          retryAfterMs = wait;
        }
        verdict = { kind: "dropped", answered };
      }
    }
    // The token bucket and the strikes, as docs/protocol.md describes them.
    if (verdict.kind !== "close" && verdict.kind !== "reject" && verdict.kind !== "typing" && !overBudget) {
      const tokens = Math.min(cfg.rateBurst, m.bucket + Math.max(0, ((now - m.bucketAt) / 1000) * cfg.ratePerSec));
      m.bucketAt = now;
      if (tokens >= 1) m.bucket = tokens - 1;
      else {
        m.bucket = tokens;
        retryAfterMs = Math.ceil(((1 - tokens) / cfg.ratePerSec) * 1000);
        verdict = {
          kind: "reject",
          code: "rate_limited",
          ...("ref" in verdict && verdict.ref !== undefined && { ref: verdict.ref }),
        };
      }
    }
    let struckOut = false;
    if (verdict.kind === "reject" || verdict.kind === "dropped") {
      if (now - m.strikesAt > cfg.strikeWindowMs) {
        m.strikes = 0;
        m.strikesAt = now;
      }
      m.strikes++;
      struckOut = m.strikes > cfg.maxStrikes;
    }

    this.room.receive(this.a, data);

    const got = { a: this.a.take(), a2: this.a2.take(), b: this.b.take() };
    const closes = this.a.takeCloses();
    const nothing: ServerFrame[] = [];
    const expect = (a: ServerFrame[], a2: ServerFrame[], b: ServerFrame[]) => {
      assert.deepEqual(got, { a, a2, b });
    };

    switch (verdict.kind) {
      case "dropped": {
        const answer = { type: "error", code: "rate_limited", message: "too many frames: slow down", retryAfterMs };
        expect(verdict.answered ? [answer as ServerFrame] : nothing, nothing, nothing);
        assert.deepEqual(closes, struckOut ? [1008] : []);
        if (struckOut) {
          this.reconnect();
          return "close 1008";
        }
        this.retryAfterMs = retryAfterMs;
        return verdict.answered ? "rate_limited" : "dropped";
      }
      case "close":
        expect(nothing, nothing, nothing);
        assert.deepEqual(closes, [verdict.code]);
        this.reconnect();
        return `close ${verdict.code}`;
      case "reject": {
        const [error] = got.a;
        assert.equal(got.a.length, 1, `one error frame, got ${JSON.stringify(got.a)}`);
        assert.ok(error.type === "error", `an error frame, got ${JSON.stringify(error)}`);
        // The text is for people; it must say something and never echo an attacker's kilobytes.
        assert.ok(error.message.length > 0 && error.message.length <= 200, `message ${JSON.stringify(error.message)}`);
        const want = {
          type: "error",
          code: verdict.code,
          message: error.message,
          ...(verdict.ref !== undefined && { ref: verdict.ref }),
          ...(retryAfterMs !== undefined && { retryAfterMs }),
        };
        expect([want as ServerFrame], nothing, nothing);
        assert.deepEqual(closes, struckOut ? [1008] : []);
        if (struckOut) {
          this.reconnect();
          return "close 1008";
        }
        this.retryAfterMs = retryAfterMs;
        return verdict.code;
      }
      case "say": {
        const message: Message = { type: "message", seq: m.seq + 1, ts: now, from: { ...m.user }, text: verdict.text };
        if (verdict.ref !== undefined) message.ref = verdict.ref;
        const ack =
          verdict.ref !== undefined ? [{ type: "ack", ref: verdict.ref, seq: message.seq } as ServerFrame] : [];
        expect([message, ...ack], [message], [message]);
        m.seq++;
        m.messages.push(message);
        break;
      }
      case "rename": {
        const renamed: ServerFrame = {
          type: "renamed",
          user: { id: m.user.id, name: verdict.name },
          from: m.user.name,
        };
        expect([renamed], [renamed], [renamed]);
        m.user = { ...m.user, name: verdict.name };
        break;
      }
      case "typing":
        if (now - m.typingAt < cfg.typingIntervalMs) {
          expect(nothing, nothing, nothing);
          return "typing (throttled)";
        }
        expect(nothing, nothing, [{ type: "typing", user: { ...m.user } }]);
        m.typingAt = now;
        break;
      case "history": {
        const kept = m.messages.filter((x) => x.seq > m.seq - cfg.historyLimit && x.seq < verdict.before);
        const messages = kept.slice(Math.max(0, kept.length - verdict.limit));
        const page = { type: "history", messages, more: kept.length > verdict.limit };
        expect([{ ...page, ...(verdict.ref !== undefined && { ref: verdict.ref }) } as ServerFrame], nothing, nothing);
        break;
      }
      case "ping":
        expect([{ type: "pong", ...(verdict.ref !== undefined && { ref: verdict.ref }) }], nothing, nothing);
        break;
    }
    assert.deepEqual(closes, []);
    assert.equal(this.room.info().seq, m.seq);
    return verdict.kind;
  }

  close() {
    this.store.close();
  }
}

// ---- what clients send ----------------------------------------------------------------------

/** Characters that matter here: multi-byte, white space of every kind, controls, and lone surrogates. */
const unit = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      "a",
      "Z",
      "0",
      " ",
      "é",
      "名",
      "😀",
      "\n",
      "\t",
      "\u0000",
      "\u007f",
      "\u0085",
      "\u00a0",
      "\u2028",
      "\u200b",
      "\ufeff",
      "\u3000",
      '"',
      "\\",
      "<",
    ),
  },
  { weight: 2, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)) },
);
const str = (maxLength: number, minLength = 0) => fc.string({ unit, minLength, maxLength });
const junk = fc.jsonValue({ maxDepth: 2, stringUnit: unit });
/** A string of exactly `n` UTF-16 units made of `u` (padded with "a" where `u` is two units wide). */
const fill = (u: string, n: number) => u.repeat(Math.floor(n / u.length)) + "a".repeat(n % u.length);

const HOSTILE = ["__proto__", "constructor", "prototype", "toString", "valueOf", "hasOwnProperty", "__defineSetter__"];
const TYPES = ["say", "rename", "typing", "history", "ping"] as const;
const UNKNOWN_TYPES = ["Say", "", "unknown", "message", "welcome", "__proto__", "constructor", "toString"];

type Entry = [string, unknown];

/** Serialized by hand, so that keys like "__proto__" and duplicate keys reach the parser as sent. */
const serialize = (entries: Entry[]) =>
  `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(",")}}`;
/** The same frame with its escaped lone surrogates written raw (a JS string a runtime could hand over). */
const rawSurrogates = (s: string) =>
  s.replace(/\\u(d[89a-f][0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));

function dataFor(cfg: Config): fc.Arbitrary<unknown> {
  const nearLimit = (limit: number) =>
    fc
      .tuple(fc.constantFrom("a", "é", "😀", " ", "\ud800", "\u0000"), fc.integer({ min: -2, max: 2 }))
      .map(([u, d]) => fill(u, Math.max(0, limit + d)));
  const whitespace = fc.constantFrom("", " ", "\t\n", "\u00a0", "\u2028", "\ufeff", "\u3000", "\u200b", "\u0085");
  const text = fc.oneof(
    { weight: 6, arbitrary: str(12, 1) },
    { weight: 2, arbitrary: whitespace },
    { weight: 2, arbitrary: nearLimit(cfg.maxText) },
  );
  const ref = fc.oneof(
    { weight: 6, arbitrary: str(8) },
    { weight: 2, arbitrary: nearLimit(64) },
    { weight: 1, arbitrary: junk },
  );
  const name = fc.oneof(
    { weight: 5, arbitrary: str(10, 1) },
    { weight: 2, arbitrary: fc.tuple(whitespace, str(4), whitespace).map((p) => p.join("")) },
    { weight: 2, arbitrary: nearLimit(32) },
  );
  const int = fc.oneof(
    fc.integer({ min: -2, max: 120 }),
    fc.constantFrom(0, -0, 1, 50, 100, 101, MAX_SAFE, MAX_SAFE + 1, 1e300, 0.5, -1),
    fc.double({ noNaN: true }),
  );
  const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined, freq: 2 });
  const entries = (type: string, fields: Record<string, unknown>): Entry[] => [
    ["type", type],
    ...Object.entries(fields).filter((e) => e[1] !== undefined),
  ];
  const valid = fc.oneof(
    { weight: 4, arbitrary: fc.record({ text, ref: opt(ref) }).map((f) => entries("say", f)) },
    { weight: 2, arbitrary: fc.record({ name, ref: opt(ref) }).map((f) => entries("rename", f)) },
    { weight: 2, arbitrary: fc.constant(entries("typing", {})) },
    {
      weight: 2,
      arbitrary: fc
        .record({ before: fc.integer({ min: 0, max: 40 }), limit: opt(fc.integer({ min: 1, max: 12 })), ref: opt(ref) })
        .map((f) => entries("history", f)),
    },
    { weight: 2, arbitrary: fc.record({ ref: opt(ref) }).map((f) => entries("ping", f)) },
    { weight: 1, arbitrary: fc.constantFrom(...UNKNOWN_TYPES).map((t) => entries(t, { text: "hi" })) },
  );
  const field = fc.constantFrom("type", "text", "ref", "name", "before", "limit");
  const mutation = fc.oneof(
    fc.tuple(fc.constant("set"), field, fc.oneof(junk, int, str(6), fc.constantFrom(...TYPES, ...UNKNOWN_TYPES))),
    fc.tuple(fc.constant("set"), fc.constantFrom(...HOSTILE), fc.oneof(junk, fc.constant({ polluted: true }))),
    fc.tuple(fc.constant("set"), str(5), junk),
    fc.tuple(fc.constant("delete"), field, fc.constant(null)),
  );
  const mutations = fc.oneof(
    { weight: 1, arbitrary: fc.constant([]) },
    { weight: 1, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 3 }) },
  );
  const frame = fc.tuple(valid, mutations).map(([base, muts]) => {
    let out = [...base];
    for (const [op, key, value] of muts) {
      if (op === "delete") out = out.filter(([k]) => k !== key);
      else out.push([key, value]); // a duplicate key: JSON.parse keeps the last
    }
    return serialize(out);
  });

  // Frames at the frame limit, in bytes, give or take a few: the pad makes the size exact.
  const atFrameLimit = fc
    .tuple(fc.constantFrom("a", "é", "名", "😀", "\ud800"), fc.integer({ min: -3, max: 3 }), fc.nat(cfg.maxText + 2))
    .map(([u, d, n]) => {
      const base = serialize([
        ["type", "say"],
        ["text", fill(u, n) || "x"],
        ["ref", "r"],
        ["pad", ""],
      ]);
      const pad = cfg.maxFrameBytes + d - Buffer.byteLength(base, "utf8");
      return pad > 0 ? base.replace('"pad":""', `"pad":"${"x".repeat(pad)}"`) : base;
    });
  const deep = fc
    .tuple(fc.integer({ min: 1, max: 6000 }), fc.constantFrom("array", "object"), fc.constantFrom("text", "x", "top"))
    .map(([n, shape, where]) => {
      const nest = shape === "array" ? `${"[".repeat(n)}${"]".repeat(n)}` : `${'{"a":'.repeat(n)}1${"}".repeat(n)}`;
      return where === "top" ? nest : `{"type":"say","text":"hi","${where}":${nest}}`;
    });
  const binary = fc
    .tuple(fc.uint8Array({ maxLength: 48 }), fc.constantFrom("u8", "arraybuffer", "buffer", "frame-bytes"))
    .map(([bytes, kind]): unknown => {
      if (kind === "arraybuffer") return bytes.slice().buffer;
      if (kind === "buffer") return Buffer.from(bytes);
      // A valid frame, but as a binary message: still not the protocol.
      if (kind === "frame-bytes") return new TextEncoder().encode('{"type":"ping","ref":"bin"}');
      return bytes;
    });
  const notData = fc.constantFrom<unknown>(null, undefined, 42, { type: "ping" }, ["ping"]);

  return fc.oneof(
    { weight: 12, arbitrary: frame },
    { weight: 2, arbitrary: frame.map(rawSurrogates) },
    { weight: 2, arbitrary: fc.json({ maxDepth: 3, stringUnit: unit }) },
    { weight: 2, arbitrary: str(40) },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
    { weight: 2, arbitrary: binary },
    { weight: 1, arbitrary: notData },
    { weight: 2, arbitrary: atFrameLimit },
    { weight: 1, arbitrary: deep },
  );
}

const dt = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 3000 }));

/** Limits out of the way, so that every answer follows from the frame alone. */
const generous = (over: Partial<Config>): Config => ({
  ...loadConfig({}),
  rateBurst: 1e9,
  ratePerSec: 1e9,
  frameBurst: 1e9,
  framePerSec: 1e9,
  maxStrikes: 1e9,
  ...over,
});
const GENEROUS = [
  generous({}),
  // Small limits make too_long, 1009 and history trimming common rather than rare.
  generous({ maxText: 8, maxFrameBytes: 256, historyLimit: 5 }),
];

describe("fuzz: the receive path", () => {
  test("every frame gets exactly its answer, and nothing throws or pollutes (generous limits)", () => {
    const seen = new Map<string, number>();
    const arb = fc
      .constantFrom(...GENEROUS)
      .chain((cfg) =>
        fc.tuple(
          fc.constant(cfg),
          fc.nat(8),
          fc.array(fc.tuple(dataFor(cfg), dt), { minLength: 1, maxLength: 40, size: "medium" }),
        ),
      );
    fc.assert(
      fc.property(arb, ([cfg, prefill, steps]) => {
        const world = new World(cfg, prefill);
        try {
          for (const [data, wait] of steps) {
            const kind = world.step(data, wait);
            seen.set(kind, (seen.get(kind) ?? 0) + 1);
          }
          assertPristine(HOSTILE);
        } finally {
          world.close();
        }
      }),
      { numRuns: RUNS.main },
    );
    // The generators are only worth something if they reach every answer.
    for (const kind of [
      "say",
      "rename",
      "typing",
      "typing (throttled)",
      "history",
      "ping",
      "close 1003",
      "close 1009",
    ]) {
      assert.ok((seen.get(kind) ?? 0) > 0, `no ${kind} in ${JSON.stringify([...seen])}`);
    }
    for (const code of ["bad_json", "bad_frame", "too_long", "bad_name"]) {
      assert.ok((seen.get(code) ?? 0) > 0, `no ${code} in ${JSON.stringify([...seen])}`);
    }
  });

  test("with the default limits: rate_limited with an honest retryAfterMs, and 1008 after the strikes", () => {
    const cfg = loadConfig({});
    const seen = new Map<string, number>();
    const frames = fc.oneof(
      {
        weight: 6,
        arbitrary: fc
          .tuple(fc.constantFrom("say", "ping", "history", "rename"), fc.string({ maxLength: 6 }))
          .map(([type, ref]) =>
            JSON.stringify(
              type === "say"
                ? { type, text: `hi ${ref}`, ref }
                : type === "rename"
                  ? { type, name: `n${ref}`, ref }
                  : type === "history"
                    ? { type, before: 99, limit: 3, ref }
                    : { type, ref },
            ),
          ),
      },
      { weight: 2, arbitrary: fc.constant('{"type":"typing"}') },
      { weight: 2, arbitrary: fc.constantFrom("nope", '{"type":"say"}', '{"type":"say","text":"   "}', "[]") },
    );
    // Bursts (0 ms apart) drain the bucket and pile up strikes; pauses refill it and let the strike window
    // lapse. Each run gets its own pace, so that some hammer the server and some stay just under the limits.
    const pace = (zeros: number) =>
      fc.oneof(
        { weight: zeros, arbitrary: fc.constant(0) },
        { weight: 3, arbitrary: fc.integer({ min: 1, max: 1500 }) },
        { weight: 1, arbitrary: fc.integer({ min: 5000, max: 12_000 }) },
      );
    fc.assert(
      fc.property(
        fc
          .constantFrom(1, 6, 60)
          .chain((zeros) => fc.array(fc.tuple(frames, pace(zeros)), { minLength: 20, maxLength: 120, size: "large" })),
        (steps) => {
          const world = new World(cfg, 0);
          let retry: number | undefined;
          try {
            for (const [data, ms] of steps) {
              // The model already fixes every answer; this is the promise a client relies on, stated plainly.
              const honest = retry !== undefined && ms >= retry && judge(data, cfg).kind !== "reject";
              const kind = world.step(data, ms);
              if (honest && kind !== "typing")
                assert.notEqual(kind, "rate_limited", "waited retryAfterMs, still refused");
              retry = world.retryAfterMs;
              seen.set(kind, (seen.get(kind) ?? 0) + 1);
            }
            assertPristine();
          } finally {
            world.close();
          }
        },
      ),
      { numRuns: RUNS.limits },
    );
    for (const kind of ["rate_limited", "say", "typing", "bad_frame", "close 1008"]) {
      assert.ok((seen.get(kind) ?? 0) > 0, `no ${kind} in ${JSON.stringify([...seen])}`);
    }
  });

  test("through the app's socket handler: nothing escapes, nothing pollutes, every answer is a protocol frame", () => {
    const cfg = loadConfig({});
    const FRAMES = new Set([
      "welcome",
      "message",
      "ack",
      "joined",
      "left",
      "renamed",
      "typing",
      "history",
      "pong",
      "error",
    ]);
    const CODES = new Set(["bad_json", "bad_frame", "too_long", "bad_name", "rate_limited"]);
    // Room names and addresses are map keys in Rooms; these are valid room names and plausible proxy headers.
    const names = fc.constantFrom("lobby", "__proto__", "constructor", "hasOwnProperty");
    fc.assert(
      fc.property(
        names,
        names,
        fc.array(fc.tuple(fc.nat(3), dataFor(cfg), fc.boolean()), { minLength: 1, maxLength: 40 }),
        (room, ip, steps) => {
          const rooms = new Rooms(new SqlStore(openSqlite(":memory:")), cfg);
          const logged: string[] = [];
          const handlerCloses: number[] = [];
          const ws = (conn: FakeConn) =>
            ({ raw: conn, close: (code: number) => handlerCloses.push(code) }) as unknown as WSContext;
          const events = socketEvents(
            rooms,
            (w) => w.raw as FakeConn,
            (m) => logged.push(m),
          );
          /** The next seq each connection must see: live messages have no gaps and no repeats. */
          const next = new Map<FakeConn, number>();
          const open = () => {
            const conn = new FakeConn();
            rooms.join(room, conn, { group: ip, name: "fuzzer" });
            return conn;
          };
          // Index 3 is a socket that never joined (its join failed): its frames must go nowhere.
          const conns = [open(), open(), open(), new FakeConn()];
          const check = (conn: FakeConn) => {
            for (const f of conn.take()) {
              assert.ok(FRAMES.has(f.type), `not a server frame: ${JSON.stringify(f)}`);
              if (f.type === "welcome") next.set(conn, f.seq + 1);
              if (f.type === "message") {
                assert.equal(f.seq, next.get(conn), "a live message out of order");
                next.set(conn, f.seq + 1);
              }
              if (f.type === "error") assert.ok(CODES.has(f.code), `error code ${f.code}`);
            }
            for (const code of conn.takeCloses()) assert.ok([1003, 1008, 1009].includes(code), `closed ${code}`);
          };
          for (const [who, data, viaError] of steps) {
            const conn = conns[who];
            const closedBefore = conn.closed.length;
            events.onMessage({ data } as MessageEvent, ws(conn));
            assert.deepEqual(logged, [], "a socket handler threw");
            assert.deepEqual(handlerCloses, [], "a socket handler closed 1011");
            if (who === 3)
              assert.deepEqual([conn.log, conn.closed], [[], []], "a socket that never joined got an answer");
            if (conn.closed.length > closedBefore) {
              // The runtime's close event follows the room's close; the client comes back on a new socket.
              if (viaError) events.onError({} as Event, ws(conn));
              else events.onClose({} as CloseEvent, ws(conn));
              conns[who] = open();
            }
            conns.forEach(check);
          }
          for (const conn of conns) events.onClose({} as CloseEvent, ws(conn));
          assert.equal(rooms.active, 0, "a room stayed in memory with nobody in it");
          assert.equal(rooms.connectionsFrom(ip), 0, "the address count leaked");
          assertPristine(HOSTILE);
        },
      ),
      { numRuns: RUNS.app },
    );
  });
});
