/**
 * After close(), no timer of the client is left: not a reconnect, not the handshake's deadline, not the
 * keep-alive, not a rate-limited resend or rename, not the wait of a gap being paged, and the diagnostic
 * GET is aborted. The client runs against a scripted socket (no server), and the check is the process's
 * own list of pending timers, the one that decides whether Node can exit, so an untracked timer fails it.
 */
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import {
  type ConnectOptions,
  connect,
  type Message,
  type ParleyClient,
  type ServerFrame,
  type User,
} from "../../src/client/index.ts";
import { eventually } from "../helpers/wait.ts";
import { ScriptedSocket } from "./scripted-socket.ts";

const it = (name: string, fn: () => Promise<void>) => test(name, { timeout: 10_000 }, fn);
/** Far longer than any test: a timer this long that is still pending after close() was never cleared. */
const LONG = 60_000;

/** Pending timers (setTimeout and setInterval) of this process that keep it alive. */
const pendingTimers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;

/** Poll without timers of its own, so that none is pending when a test counts them. */

const you: User = { id: "u1", name: "ada" };
const welcome = (over: Partial<Extract<ServerFrame, { type: "welcome" }>> = {}): ServerFrame => ({
  type: "welcome",
  room: "r",
  epoch: "e1",
  you,
  token: "t",
  members: [you],
  messages: [],
  seq: 0,
  resumed: false,
  ...over,
});
const message = (seq: number): Message => ({
  type: "message",
  seq,
  ts: seq,
  from: { id: "u2", name: "bob" },
  text: `m${seq}`,
});

let clients: ParleyClient[] = [];
afterEach(() => {
  for (const c of clients) c.close();
  clients = [];
});

/** A client whose sockets land in `sockets`; its fetch is `fetch`, or one that fails at once. */
function start(options: Partial<ConnectOptions> = {}) {
  const sockets: ScriptedSocket[] = [];
  const client = connect("http://parley.invalid", {
    room: "r",
    WebSocket: class extends ScriptedSocket {
      constructor() {
        super();
        sockets.push(this);
      }
    },
    fetch: (() => Promise.reject(new TypeError("no network"))) as unknown as typeof fetch,
    pingIntervalMs: LONG,
    pongTimeoutMs: LONG,
    connectTimeoutMs: LONG,
    backoff: { initialMs: LONG, maxMs: LONG },
    ...options,
  });
  clients.push(client);
  return { client, sockets };
}

/** Close the client and check that it leaves exactly the timers there were before it started. */
async function closesClean(client: ParleyClient, before: number) {
  assert.ok(pendingTimers() > before, "the client has timers running (else this check proves nothing)");
  client.close();
  assert.equal(client.state, "stopped");
  assert.equal(pendingTimers(), before, "timers left pending after close()");
  // And nothing starts one later: the socket's close arrives, the stopped client ignores it.
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.equal(pendingTimers(), before, "timers started after close()");
}

it("while the handshake is open (its deadline)", async () => {
  const before = pendingTimers();
  const { client } = start();
  await closesClean(client, before);
});

it("while waiting to reconnect", async () => {
  const before = pendingTimers();
  const { client, sockets } = start();
  sockets[0].refuse();
  await eventually(() => client.state === "reconnecting", "reconnecting");
  await closesClean(client, before);
});

it("while the diagnostic GET of a refused handshake is out: it is aborted", async () => {
  const before = pendingTimers();
  let signal: AbortSignal | undefined;
  const hanging = ((_url: string, init?: RequestInit) => {
    signal = init?.signal ?? undefined;
    return new Promise((_, reject) => signal?.addEventListener("abort", () => reject(signal?.reason)));
  }) as typeof fetch;
  const { client, sockets } = start({ fetch: hanging });
  sockets[0].refuse();
  await eventually(() => signal !== undefined, "the diagnostic GET");
  await closesClean(client, before);
  assert.equal(signal?.aborted, true, "the GET was aborted");
  assert.equal(sockets.length, 1, "no reconnect after close()");
});

it("live, with a keep-alive ping unanswered and a rate-limited say and rename waiting to be resent", async () => {
  const before = pendingTimers();
  const { client, sockets } = start({ pingIntervalMs: 5 });
  const socket = sockets[0];
  socket.answer = (f) => {
    if (f.type === "say" || f.type === "rename") {
      socket.deliver({
        type: "error",
        code: "rate_limited",
        message: "slow down",
        ref: f.ref as string,
        retryAfterMs: LONG,
      });
    }
  };
  socket.accept();
  socket.deliver(welcome());
  assert.equal(client.state, "live");
  const said = client.say("hello");
  const renamed = client.rename("bea");
  await eventually(() => socket.sent.some((f) => f.type === "ping" && !f.ref), "a keep-alive ping");
  assert.deepEqual(
    socket.sent.filter((f) => f.type !== "ping").map((f) => f.type),
    ["say", "rename"],
  );
  const refused = Promise.all([
    assert.rejects(said, { code: "stopped" }),
    assert.rejects(renamed, { code: "stopped" }),
  ]);
  await closesClean(client, before);
  await refused;
});

it("while a rate-limited page of a gap waits for its turn", async () => {
  const before = pendingTimers();
  const { client, sockets } = start({ backoff: { initialMs: 1, maxMs: 1 } });
  sockets[0].accept();
  sockets[0].deliver(welcome({ messages: [message(1), message(2)], seq: 2 }));
  assert.equal(client.seq, 2);
  sockets[0].close(1001, "going away");
  await eventually(() => sockets.length === 2, "a second socket");
  const socket = sockets[1];
  socket.answer = (f) => {
    if (f.type === "history") {
      socket.deliver({
        type: "error",
        code: "rate_limited",
        message: "slow down",
        ref: f.ref as string,
        retryAfterMs: LONG,
      });
    }
  };
  socket.accept();
  // The server could not replay from seq 2: the client pages 3..199 before anything newer.
  socket.deliver(welcome({ messages: [message(200)], seq: 200 }));
  await eventually(() => socket.sent.some((f) => f.type === "history"), "a history request");
  assert.equal(client.seq, 2, "nothing newer delivered while the gap is open");
  await closesClean(client, before);
});

it("a welcome that arrives after close() starts nothing", async () => {
  const before = pendingTimers();
  const { client, sockets } = start({ pingIntervalMs: 5 });
  const socket = sockets[0];
  socket.accept();
  client.close();
  // `ws` still dispatches frames read before the close completes.
  socket.deliver(welcome());
  assert.equal(client.state, "stopped");
  assert.equal(pendingTimers(), before);
});
