/**
 * Webhooks (PROTOCOL-v2 section 4): every entry is delivered to PARLEY_WEBHOOK_URL, signed, at least once
 * and in seq order per room, from a durable outbox. Each test runs a real server of the runtime against a
 * receiver in this process (node:http on 127.0.0.1) that checks **every** request: the method, the
 * content type, the signature (the HMAC recomputed, `t` within 5 minutes), the Parley-Delivery header, the
 * batch (1–100 entries, seq +1 each), that no delivery skips past what was acknowledged, and that a room
 * has one delivery in flight at a time. Whatever it finds wrong fails the test that caused it.
 *
 * Every wait is bounded in time and every loop in count. Times are never asserted absolutely: the hanging
 * receiver is measured as a ratio against a fast one in the same run.
 */
import assert from "node:assert/strict";
import { createHmac, timingSafeEqual } from "node:crypto";
import http from "node:http";
import type net from "node:net";
import { join as joinPath } from "node:path";
import { after, afterEach, describe } from "node:test";
import { type Client, type Frame, join, terminateAll } from "../helpers/client.ts";
import { freshRoom, fromAddress, nextAddress, say } from "../helpers/fixtures.ts";
import { type Runtime, testsWithTimeout } from "../helpers/runtimes.ts";
import { type RunningServer, startServer, tempDir } from "../helpers/server.ts";
import { eventually, sleep } from "../helpers/wait.ts";

const API_KEY = "parley-test-api-key-0123456789";
const SECRET = "parley-test-webhook-secret-0123456789";
const V2 = ["parley.v2"];
/** How far `t` may be from the receiver's clock (the docs tell receivers the same). */
const TOLERANCE_SEC = 300;
const MAX_BATCH = 100;
/** Parley gives up on a delivery after 10 s; a second request of a room before that means two in flight. */
const DELIVERY_TIMEOUT_MS = 10_000;
const WOKE = /"event":"woke_from_hibernation","count":(\d+)/g;

type Decision = "ok" | "fail" | "hold";

/** One request the receiver got. */
interface Delivery {
  /** Which server incarnation sent it (bumped by the test at each restart). */
  generation: number;
  path: string;
  at: number;
  room: string;
  epoch: string;
  entries: Frame[];
  first: number;
  last: number;
  /** The status answered; undefined while held (or for ever, for a hanging receiver). */
  status?: number;
}

/**
 * The test's webhook receiver. `policy` decides each verified delivery: answer 200, answer 500, or hold it
 * unanswered (a hanging receiver, or one a test kills the server under).
 */
class Receiver {
  readonly deliveries: Delivery[] = [];
  /** Everything wrong with what was received; every test asserts it is empty. */
  readonly problems: string[] = [];
  policy: (d: Delivery) => Decision | Promise<Decision> = () => "ok";
  generation = 0;
  private readonly held = new Map<Delivery, http.ServerResponse>();
  private readonly sockets = new Set<net.Socket>();
  private readonly server = http.createServer((req, res) => void this.handle(req, res));
  url = "";

  async listen(): Promise<this> {
    this.server.on("connection", (s) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
    return this;
  }

  private problem(what: string, res: http.ServerResponse) {
    this.problems.push(what);
    res.writeHead(400).end();
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const at = Date.now();
    if (req.method !== "POST") return this.problem(`method ${req.method}`, res);
    if (!/^application\/json\b/.test(req.headers["content-type"] ?? "")) {
      return this.problem(`content-type ${req.headers["content-type"]}`, res);
    }
    // The signature, recomputed: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>.
    const sig = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(req.headers["parley-signature"] ?? ""));
    if (!sig) return this.problem(`Parley-Signature ${req.headers["parley-signature"]}`, res);
    const expected = createHmac("sha256", SECRET).update(`${sig[1]}.`).update(raw).digest();
    if (!timingSafeEqual(expected, Buffer.from(sig[2], "hex")))
      return this.problem("a signature that does not match", res);
    if (Math.abs(at / 1000 - Number(sig[1])) > TOLERANCE_SEC) return this.problem(`t ${sig[1]} is stale`, res);

    let body: { room?: unknown; epoch?: unknown; entries?: unknown };
    try {
      body = JSON.parse(raw.toString("utf8"));
    } catch {
      return this.problem(`a body that is not JSON: ${raw.toString("utf8").slice(0, 80)}`, res);
    }
    const { room, epoch, entries } = body;
    if (typeof room !== "string" || typeof epoch !== "string" || !Array.isArray(entries)) {
      return this.problem(`a body of the wrong shape: ${raw.toString("utf8").slice(0, 120)}`, res);
    }
    const seqs = (entries as Frame[]).map((e) => e.seq as number);
    if (seqs.length < 1 || seqs.length > MAX_BATCH) return this.problem(`${room}: a batch of ${seqs.length}`, res);
    if (seqs.some((s, i) => s !== seqs[0] + i))
      return this.problem(`${room}: seqs ${seqs.join(",")} are not +1 each`, res);
    const deliveryId = `${room}:${epoch}:${seqs[0]}`;
    if (req.headers["parley-delivery"] !== deliveryId) {
      this.problems.push(`Parley-Delivery ${req.headers["parley-delivery"]}, expected ${deliveryId}`);
    }

    const d: Delivery = {
      generation: this.generation,
      path: req.url ?? "",
      at,
      room,
      epoch,
      entries: entries as Frame[],
      first: seqs[0],
      last: seqs[seqs.length - 1],
    };
    const earlier = this.deliveries.filter((x) => x.room === room && x.path === d.path);
    const acked = Math.max(0, ...earlier.filter((x) => ok(x.status)).map((x) => x.last));
    if (d.first > acked + 1)
      this.problems.push(`${room}: a delivery from ${d.first} skips past ${acked}, the last acknowledged`);
    if (earlier.some((x) => x.epoch !== epoch)) this.problems.push(`${room}: the epoch changed to ${epoch}`);
    const overlapping = earlier.find(
      (x) => x.status === undefined && x.generation === d.generation && at - x.at < DELIVERY_TIMEOUT_MS - 1000,
    );
    if (overlapping)
      this.problems.push(`${room}: a delivery from ${d.first} while the one from ${overlapping.first} is in flight`);
    this.deliveries.push(d);

    const decision = await this.policy(d);
    if (decision === "hold") {
      this.held.set(d, res);
      return;
    }
    d.status = decision === "ok" ? 200 : 500;
    res.writeHead(d.status).end();
  }

  /** Deliveries received and not answered. */
  inFlight(): Delivery[] {
    return [...this.held.keys()].filter((d) => d.status === undefined);
  }

  /** Forget the held requests (the server that sent them is gone); they stay unanswered. */
  dropHeld(): void {
    for (const res of this.held.values()) res.destroy();
    this.held.clear();
  }

  /** The distinct entries of `room` the receiver acknowledged (first arrival of each seq, per epoch), by seq. */
  unique(room: string): Frame[] {
    const byKey = new Map<string, Frame>();
    for (const d of this.deliveries) {
      if (d.room !== room || !ok(d.status)) continue;
      for (const e of d.entries) if (!byKey.has(`${d.epoch}:${e.seq}`)) byKey.set(`${d.epoch}:${e.seq}`, e);
    }
    return [...byKey.values()].sort((a, b) => (a.seq as number) - (b.seq as number));
  }

  /** Whether `room` has been delivered (and acknowledged) every seq of 1..n. */
  has(room: string, n: number): boolean {
    const got = new Set<number>();
    for (const d of this.deliveries)
      if (d.room === room && ok(d.status)) for (const e of d.entries) got.add(e.seq as number);
    for (let s = 1; s <= n; s++) if (!got.has(s)) return false;
    return true;
  }

  /** Each (room, seq) with how many deliveries carried it, for those carried more than once. */
  repeated(rooms: string[]): { room: string; seq: number; times: number }[] {
    const count = new Map<string, number>();
    for (const d of this.deliveries) {
      if (!rooms.includes(d.room)) continue;
      for (const e of d.entries) count.set(`${d.room}\n${e.seq}`, (count.get(`${d.room}\n${e.seq}`) ?? 0) + 1);
    }
    return [...count]
      .filter(([, n]) => n > 1)
      .map(([k, times]) => ({ room: k.split("\n")[0], seq: Number(k.split("\n")[1]), times }));
  }

  async close(): Promise<void> {
    this.dropHeld();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const ok = (status: number | undefined) => status !== undefined && status >= 200 && status < 300;
const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
/** What a delivery log looks like in a failure message: the last few deliveries. */
const recent = (r: Receiver, room?: string) =>
  JSON.stringify(
    r.deliveries
      .filter((d) => room === undefined || d.room === room)
      .slice(-6)
      .map((d) => `${d.room}:${d.first}-${d.last}:${d.status ?? "held"}`),
  );

export function webhooks(runtime: Runtime): void {
  const it = testsWithTimeout(120_000);
  const servers = new Set<RunningServer>();
  const receivers = new Set<Receiver>();

  const env = (url: string, extra: Record<string, string> = {}) => ({
    PARLEY_DB: ":memory:",
    PARLEY_API_KEY: API_KEY,
    PARLEY_WEBHOOK_URL: url,
    PARLEY_WEBHOOK_SECRET: SECRET,
    PARLEY_WEBHOOK_RETRY_MS: "200",
    PARLEY_TRUST_PROXY: "1",
    PARLEY_RATE_BURST: "100000",
    PARLEY_RATE_PER_SEC: "100000",
    PARLEY_FRAME_BURST: "100000",
    PARLEY_FRAME_PER_SEC: "100000",
    PARLEY_CONNECT_BURST: "100000",
    ...extra,
  });
  const start = async (e: Record<string, string>) => {
    const server = await startServer(() => runtime.command(e), e);
    servers.add(server);
    return server;
  };
  const stop = async (server: RunningServer, signal: NodeJS.Signals) => {
    await server.stop(signal);
    servers.delete(server);
  };
  const receiver = async () => {
    const r = await new Receiver().listen();
    receivers.add(r);
    return r;
  };
  const cleanUp = async () => {
    terminateAll();
    await Promise.all([...servers].map((s) => s.stop("SIGKILL")));
    servers.clear();
    await Promise.all([...receivers].map((r) => r.close()));
    receivers.clear();
  };

  /** POST an API message; its seq. */
  const post = async (server: RunningServer, room: string, text: string, extra: Record<string, unknown> = {}) => {
    const res = await fetch(`${server.url}/api/rooms/${room}/messages`, {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ text, from: { name: "poster" }, ...extra }),
    });
    const body = await res.text();
    assert.equal(res.status, 201, `POST ${room}: ${res.status} ${body}`);
    return JSON.parse(body).seq as number;
  };
  /** `count` API posts into `room`, `parallel` at a time. */
  const postMany = async (server: RunningServer, room: string, count: number, parallel = 8) => {
    for (let i = 0; i < count; i += parallel) {
      await Promise.all(range(Math.min(parallel, count - i)).map((k) => post(server, room, `${room} #${i + k}`)));
    }
  };
  const apiCall = async (server: RunningServer, method: string, path: string, body?: unknown) => {
    const res = await fetch(server.url + path, {
      method,
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    assert.ok(res.ok, `${method} ${path}: ${res.status} ${text}`);
    return JSON.parse(text);
  };
  /** Every entry of `room` from the entries API, paged. */
  const stored = async (server: RunningServer, room: string): Promise<Frame[]> => {
    const all: Frame[] = [];
    for (let page = 0; page < 100; page++) {
      const p = await apiCall(server, "GET", `/api/rooms/${room}/entries?after=${all.length}&limit=1000`);
      all.push(...p.entries);
      if (!p.more) return all;
    }
    throw new Error(`${room}: more than 100 pages of entries`);
  };
  const roomInfo = async (server: RunningServer, room: string) => apiCall(server, "GET", `/api/rooms/${room}`);
  const enter = async (server: RunningServer, room: string) =>
    join(`${server.wsUrl}/rooms/${room}/ws`, { protocols: V2, headers: fromAddress(nextAddress()) });
  let lastRef = 0;
  /** A socket `say` that must commit; its seq. */
  const sayOk = async (client: Client, text: string) => {
    const ref = `wh${++lastRef}`;
    client.send(say(text, ref));
    let ack: Frame | undefined;
    await eventually(() => {
      ack = client.frames.find((f) => (f.type === "ack" || f.type === "error") && f.ref === ref);
      return ack !== undefined;
    }, `the answer to ${ref}`);
    assert.equal(ack?.type, "ack", JSON.stringify(ack));
    return ack?.seq as number;
  };
  /** Wait until `r` has every seq 1..n of each room acknowledged. */
  const allDelivered = (r: Receiver, rooms: Record<string, number>, ms: number, label = "every entry delivered") =>
    eventually(
      () => Object.entries(rooms).every(([room, n]) => r.has(room, n)),
      () =>
        `${label}: ${Object.entries(rooms)
          .map(([room, n]) => `${room} ${r.unique(room).length}/${n}`)
          .join(", ")}; last deliveries ${recent(r)}; problems ${JSON.stringify(r.problems)}`,
      ms,
    );
  /** The distinct delivered entries of `room` hold exactly what the entries API stores, seq by seq. */
  const sameAsStored = async (server: RunningServer, r: Receiver, room: string, changedLater: Set<number>) => {
    const got = r.unique(room);
    const want = await stored(server, room);
    assert.deepEqual(
      got.map((e) => e.seq),
      range(want.length),
      `${room}: delivered seqs`,
    );
    for (const [i, e] of want.entries()) {
      if (changedLater.has(e.seq as number)) {
        // Edited, reacted to or deleted after it may have been delivered: the store has its current state.
        const fixed = (x: Frame) => [x.type, x.seq, x.ts, x.by, x.from, x.replyTo, x.ref];
        assert.deepEqual(fixed(got[i]), fixed(e), `${room}: entry ${e.seq}`);
      } else assert.deepEqual(got[i], e, `${room}: entry ${e.seq} as delivered and as stored`);
    }
  };

  describe("webhooks", () => {
    after(cleanUp);
    afterEach(cleanUp);

    it("webhooks: every entry of every kind arrives, signed, in seq order per room, none missing, none twice", async (t) => {
      const r = await receiver();
      const server = await start(env(`${r.url}/hook`));
      const [a, b, big] = [freshRoom("wh-all"), freshRoom("wh-all"), freshRoom("wh-batch")];
      const changed = new Map<string, Set<number>>([
        [a, new Set()],
        [b, new Set()],
      ]);
      const bigDone = postMany(server, big, 250, 10);
      for (const room of [a, b]) {
        const alice = await enter(server, room);
        const bob = await enter(server, room);
        const m1 = await sayOk(alice.client, "hello");
        const m2 = await post(server, room, "from the backend", { replyTo: m1 });
        await sayOk(bob.client, "hi");
        alice.client.send({ type: "edit", target: m1, text: "hello!", ref: "edit" });
        alice.client.send({ type: "react", target: m2, emoji: "👍", ref: "react" });
        await eventually(() => alice.client.frames.some((f) => f.type === "ack" && f.ref === "react"), "the reaction");
        changed.get(room)?.add(m1).add(m2);
        const m3 = await post(server, room, "to be deleted");
        await apiCall(server, "DELETE", `/api/rooms/${room}/messages/${m3}`);
        changed.get(room)?.add(m3);
        await apiCall(server, "POST", `/api/rooms/${room}/moderation`, {
          action: "mute",
          user: (bob.welcome.you as Frame).id,
          minutes: 1,
        });
        await apiCall(server, "POST", `/api/rooms/${room}/moderation`, {
          action: "unmute",
          user: (bob.welcome.you as Frame).id,
        });
        await Promise.all(range(10).map((i) => (i % 2 ? sayOk(alice.client, `s${i}`) : post(server, room, `p${i}`))));
        await Promise.all([alice.client.close(), bob.client.close()]);
      }
      await bigDone;
      const counts = { [a]: (await roomInfo(server, a)).seq, [b]: (await roomInfo(server, b)).seq, [big]: 250 };
      await allDelivered(r, counts, 30_000);
      assert.deepEqual(r.problems, []);
      for (const room of [a, b, big]) {
        await sameAsStored(server, r, room, changed.get(room) ?? new Set());
        const epoch = (await roomInfo(server, room)).epoch;
        assert.ok(
          r.deliveries.filter((d) => d.room === room).every((d) => d.epoch === epoch),
          `${room}: the epoch`,
        );
      }
      const kinds = new Set(r.unique(a).map((e) => `${e.type}${e.action ? `:${e.action}` : ""}`));
      assert.deepEqual([...kinds].sort(), [
        "deleted",
        "edited",
        "message",
        "moderated:mute",
        "moderated:unmute",
        "reacted",
      ]);
      assert.deepEqual(r.repeated([a, b, big]), [], "a receiver that acknowledges everything gets nothing twice");
      const batches = r.deliveries.filter((d) => d.room === big).map((d) => d.entries.length);
      t.diagnostic(`${big}: ${batches.length} deliveries for 250 entries (largest ${Math.max(...batches)})`);
    });

    it("webhooks: a receiver answering 500 for the first 3 s gets every entry once it recovers; deleted text is ''", async (t) => {
      const r = await receiver();
      // It fails while everything is written, and 3 s from the first write (1 s past the last at least).
      let failUntil = Number.POSITIVE_INFINITY;
      r.policy = () => (Date.now() < failUntil ? "fail" : "ok");
      const server = await start(env(`${r.url}/hook`));
      const room = freshRoom("wh-500");
      const alice = await enter(server, room);
      const writing = Date.now();
      const secret = await post(server, room, "a secret the backend must not keep");
      await sayOk(alice.client, "after it");
      await apiCall(server, "DELETE", `/api/rooms/${room}/messages/${secret}`);
      for (let i = 0; i < 20; i++) i % 2 ? await sayOk(alice.client, `s${i}`) : await post(server, room, `p${i}`);
      failUntil = Math.max(writing + 3000, Date.now() + 1000);
      const n = (await roomInfo(server, room)).seq;

      await allDelivered(r, { [room]: n }, 45_000);
      assert.deepEqual(r.problems, []);
      const mine = r.deliveries.filter((d) => d.room === room);
      const failed = mine.filter((d) => d.status === 500);
      assert.ok(failed.length >= 2, `the failures were retried: ${failed.length} failed attempts`);
      // Doubling from 200 ms: about 5 attempts in 3 s. A retry loop without backoff would make hundreds.
      const window = failUntil - writing;
      assert.ok(failed.length <= 15, `${failed.length} attempts in ${window} ms: no backoff`);
      for (const d of mine.filter((x) => ok(x.status))) {
        assert.doesNotMatch(JSON.stringify(d.entries), /secret/, "a delivery made after the delete carries ''");
      }
      const deleted = r.unique(room).find((e) => e.seq === secret);
      assert.equal(deleted?.text, "");
      await sameAsStored(server, r, room, new Set());
      const gaps = failed.slice(1).map((d, i) => d.at - failed[i].at);
      t.diagnostic(
        `${failed.length} failed attempts, gaps ${gaps.join(", ")} ms; delivered ${mine.length - failed.length} times`,
      );
      await alice.client.close();
    });

    it("webhooks: kill -9 mid-delivery, restart: everything pending arrives, and only the deliveries in flight repeat", async (t) => {
      const r = await receiver();
      // Two deliveries of each room are acknowledged; the third is held, unanswered, until the kill.
      r.policy = (d) => (r.deliveries.filter((x) => x.room === d.room).length <= 2 ? "ok" : "hold");
      const e = env(`${r.url}/hook`, { PARLEY_DB: joinPath(tempDir(), "parley.db"), PARLEY_WEBHOOK_RETRY_MS: "1000" });
      let server = await start(e);
      const rooms = [freshRoom("wh-kill"), freshRoom("wh-kill")];
      const N = 300;
      await Promise.all(rooms.map((room) => postMany(server, room, N)));
      const epochs = await Promise.all(rooms.map(async (room) => (await roomInfo(server, room)).epoch));
      await eventually(
        () => rooms.every((room) => r.inFlight().some((d) => d.room === room)),
        () => `a delivery of each room in flight: ${recent(r)}`,
        15_000,
      );
      // Nothing is answered from here on; whatever was answered has long been recorded by the server.
      r.policy = () => "hold";
      await sleep(300);
      await stop(server, "SIGKILL");
      const inFlight = r.inFlight();
      const ackedBefore = new Map(
        rooms.map((room) => [
          room,
          Math.max(0, ...r.deliveries.filter((d) => d.room === room && ok(d.status)).map((d) => d.last)),
        ]),
      );
      for (const room of rooms) {
        const acked = ackedBefore.get(room) ?? 0;
        assert.ok(acked > 0 && acked < N, `${room}: mid-delivery at the kill (${acked} of ${N} acknowledged)`);
      }
      r.dropHeld();
      r.policy = () => "ok";
      r.generation++;

      server = await start(e);
      const restartedAt = Date.now();
      // No request to the rooms until everything has arrived: the server resumes by itself.
      await allDelivered(
        r,
        Object.fromEntries(rooms.map((room) => [room, N])),
        30_000,
        "every pending entry after the restart",
      );
      assert.deepEqual(r.problems, []);
      const firstAfter = r.deliveries.find((d) => d.generation === 1);
      for (const [i, room] of rooms.entries()) {
        assert.equal((await roomInfo(server, room)).epoch, epochs[i], `${room}: the epoch`);
        await sameAsStored(server, r, room, new Set());
      }
      // Only the entries of a delivery that was in flight at the kill may come twice.
      const mayRepeat = new Set(inFlight.flatMap((d) => d.entries.map((x) => `${d.room}:${x.seq}`)));
      const repeats = r.repeated(rooms);
      assert.deepEqual(
        repeats.filter((x) => !mayRepeat.has(`${x.room}:${x.seq}`) || x.times > 2),
        [],
        `entries delivered twice that were acknowledged before the kill (in flight: ${inFlight.map((d) => `${d.room}:${d.first}-${d.last}`)})`,
      );
      t.diagnostic(
        `acknowledged before the kill: ${[...ackedBefore.values()].join(", ")} of ${N}; in flight ${inFlight.length} ` +
          `deliveries (${mayRepeat.size} entries), ${repeats.length} entries repeated; first delivery ` +
          `${firstAfter ? firstAfter.at - restartedAt : "?"} ms after the restart`,
      );
    });

    it("webhooks: stopped while the receiver fails, restarted: pending deliveries resume with no request to the room", async (t) => {
      const r = await receiver();
      r.policy = () => "fail";
      const e = env(`${r.url}/hook`, { PARLEY_DB: joinPath(tempDir(), "parley.db") });
      let server = await start(e);
      const rooms = [freshRoom("wh-restart"), freshRoom("wh-restart")];
      await Promise.all(rooms.map((room) => postMany(server, room, 20)));
      await eventually(
        () => rooms.every((room) => r.deliveries.some((d) => d.room === room && d.status === 500)),
        () => `a failed attempt in each room: ${recent(r)}`,
        10_000,
      );
      // wrangler dev stops on SIGINT (Ctrl-C), as tests/workers/platform.test.ts stops it; a process
      // runtime shuts down gracefully on SIGTERM.
      await stop(server, runtime.ownsShutdown ? "SIGINT" : "SIGTERM");
      r.policy = () => "ok";
      r.generation++;
      server = await start(e);
      const restartedAt = Date.now();
      await allDelivered(r, Object.fromEntries(rooms.map((room) => [room, 20])), 30_000, "the pending entries");
      assert.deepEqual(r.problems, []);
      for (const room of rooms) await sameAsStored(server, r, room, new Set());
      const first = r.deliveries.find((d) => d.generation === 1);
      t.diagnostic(`first delivery ${first ? first.at - restartedAt : "?"} ms after the restart`);
    });

    it("webhooks: a receiver that hangs does not slow the room's broadcast (ratio to a fast receiver)", async (t) => {
      const r = await receiver();
      r.policy = (d) => (d.path === "/hang" ? "hold" : "ok");
      const [hanging, fast] = await Promise.all([start(env(`${r.url}/hang`)), start(env(`${r.url}/fast`))]);
      const N = 100;
      const ROUNDS = 3;
      /** Wall time of N messages said by one member and received by another, one after the other. */
      const roundTrips = async (server: RunningServer, path: string) => {
        const room = freshRoom("wh-rtt");
        const sender = await enter(server, room);
        const reader = await enter(server, room);
        for (let i = 0; i < 5; i++) {
          sender.client.send(say(`warm ${i}`));
          await reader.client.next("message", 10_000);
        }
        if (path === "/hang") {
          await eventually(
            () => r.inFlight().some((d) => d.room === room),
            () => `a hanging delivery of ${room}: ${recent(r, room)}`,
            10_000,
          );
        }
        const t0 = performance.now();
        for (let i = 0; i < N; i++) {
          sender.client.send(say(`m ${i}`));
          await reader.client.next("message", 10_000);
        }
        const ms = performance.now() - t0;
        await Promise.all([sender.client.close(), reader.client.close()]);
        return ms;
      };
      const times = { hang: [] as number[], fast: [] as number[] };
      for (let round = 0; round < ROUNDS; round++) {
        // Alternating which goes first, so that neither always runs on a warmer machine.
        const order: [RunningServer, "/hang" | "/fast"][] = [
          [hanging, "/hang"],
          [fast, "/fast"],
        ];
        if (round % 2) order.reverse();
        for (const [server, path] of order)
          times[path === "/hang" ? "hang" : "fast"].push(await roundTrips(server, path));
      }
      const sum = (xs: number[]) => xs.reduce((x, y) => x + y, 0);
      const ratio = sum(times.hang) / sum(times.fast);
      t.diagnostic(
        `${N} round trips: hanging receiver ${times.hang.map((x) => x.toFixed(0)).join("/")} ms, ` +
          `fast receiver ${times.fast.map((x) => x.toFixed(0)).join("/")} ms, ratio ${ratio.toFixed(2)}`,
      );
      assert.ok(ratio < 2, `the room is ${ratio.toFixed(2)}× slower while its webhook hangs`);
      assert.ok(
        r.deliveries.filter((d) => d.path === "/hang").every((d) => d.status === undefined),
        "the hanging receiver never answered",
      );
      assert.ok(
        r.unique(r.deliveries.find((d) => d.path === "/fast")?.room ?? "").length > 0,
        "the fast one got deliveries",
      );
      assert.deepEqual(r.problems, []);
    });

    const wakes = (server: RunningServer) => [...server.output().matchAll(WOKE)].map((m) => Number(m[1]));

    it("webhooks: deliveries pending across a hibernation resume when the alarm wakes the room", {
      skip: runtime.neverHibernates,
      timeout: 180_000,
    }, async (t) => {
      const r = await receiver();
      // Every attempt fails until the room has been evicted and woken again: only the alarm can then
      // deliver (nothing else touches the room meanwhile). workerd's log reaches us a moment after the
      // request, so the receiver looks for the wake-up line for a little while before it decides.
      r.policy = async () => {
        const deadline = Date.now() + 1500;
        while (wakes(server).length === 0 && Date.now() < deadline) await sleep(50);
        return wakes(server).length > 0 ? "ok" : "fail";
      };
      // Each try wakes the room, and a quiet room is evicted 10–22 s after it (wrangler dev's 10 s, checked
      // on a tick, plus the receiver's wait): the tries come 6–12 s, 12–24 s, then 24–48 s apart (12 s,
      // doubling, jittered over the upper half), so the third gap is longer than any eviction and the
      // entries are out within 84 s plus the waits. With 8 s the third gap could fall short, and the
      // fourth (32–64 s) then ran past the deadline (a CI run took 101 s of its 100).
      const server = await start(
        env(`${r.url}/hook`, { PARLEY_DB: joinPath(tempDir(), "parley.db"), PARLEY_WEBHOOK_RETRY_MS: "12000" }),
      );
      const room = freshRoom("wh-sleep");
      const member = await enter(server, room);
      for (let i = 0; i < 3; i++) await sayOk(member.client, `before ${i}`);
      await eventually(() => r.deliveries.some((d) => d.room === room), "a first attempt", 10_000);
      // Quiet: no frame either way; the member stays connected, so a woken room says "with 1 sockets".
      await allDelivered(r, { [room]: 3 }, 130_000, "the entries pending across the eviction");
      assert.ok(wakes(server).length >= 1, "the room was evicted and woken");
      assert.equal(wakes(server)[0], 1, "rebuilt from its one socket");
      const failed = r.deliveries.filter((d) => d.status === 500).length;

      // Awake again: the next entry goes out as usual.
      await sayOk(member.client, "after");
      await allDelivered(r, { [room]: 4 }, 15_000, "the entry after the wake-up");
      assert.deepEqual(r.problems, []);
      await sameAsStored(server, r, room, new Set());
      t.diagnostic(`${failed} failed attempts before the eviction; wake-ups ${JSON.stringify(wakes(server))}`);
      await member.client.close();
    });
  });
}
