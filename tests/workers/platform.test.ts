/**
 * What only Workers has: real hibernation under `wrangler dev`, a restart on the same persisted state,
 * a bundle that `wrangler deploy` would upload, and a test server that never reloads on a file change.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, utimesSync } from "node:fs";
import { join as joinPath } from "node:path";
import { after, afterEach, describe, test } from "node:test";
import { type Frame, join, refusedStatus, terminateAll } from "../helpers/client.ts";
import { say } from "../helpers/fixtures.ts";
import { runtimes } from "../helpers/runtimes.ts";
import { type RunningServer, startServer, tempDir } from "../helpers/server.ts";
import { signToken, TEST_JWT_SECRET } from "../helpers/tokens.ts";
import { eventually, sleep, within } from "../helpers/wait.ts";

const WOKE = /"event":"woke_from_hibernation","count":(\d+)/g;
// wrangler dev evicts an idle object after about 10 s (../shared/PITFALLS.md); leave it room to do so.
const QUIET_MS = 15_000;

const servers: RunningServer[] = [];
async function start(env: Record<string, string>) {
  const server = await startServer(() => runtimes.workers.command(env), env);
  servers.push(server);
  return server;
}
const wakes = (server: RunningServer) => [...server.output().matchAll(WOKE)].map((m) => Number(m[1]));
/** The wake-up lines once there are `count` of them; workerd's log reaches us a moment after the frames. */
async function wakesWhen(server: RunningServer, count: number, timeoutMs = 3000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  while (wakes(server).length < count && Date.now() < deadline) await sleep(50);
  return wakes(server);
}

afterEach(() => terminateAll());
after(async () => {
  await Promise.all(servers.map((s) => s.stop("SIGKILL")));
});

describe("workers: hibernation", () => {
  test("an evicted room wakes with its members, names, ids, tokens, seq and history", { timeout: 90_000 }, async () => {
    const server = await start({ PARLEY_DB: `${tempDir()}/parley.db` });
    const url = (q: Record<string, string> = {}) => `${server.wsUrl}/rooms/sleepy/ws?${new URLSearchParams(q)}`;
    const ann = await join(url({ name: "ann" }));
    const bob = await join(url({ name: "bob" }));
    await ann.client.next("joined");
    for (const text of ["one", "two"]) {
      ann.client.send(say(text, text));
      await ann.client.next("ack");
      await bob.client.next("message");
    }
    assert.deepEqual(wakes(server), [], "the room has not slept yet");

    // Quiet: no frame either way, no timer in the object, so the platform evicts it.
    await sleep(QUIET_MS);

    bob.client.send(say("three", "three"));
    const three = await ann.client.next("message");
    assert.deepEqual(await wakesWhen(server, 1), [2], "a fresh instance rebuilt the room from its 2 sockets");
    assert.equal(three.seq, 3);
    assert.deepEqual(three.from, bob.welcome.you);
    assert.equal((await bob.client.next("ack")).seq, 3);

    const info = await (await fetch(`${server.url}/api/rooms/sleepy`)).json();
    assert.equal(info.epoch, ann.welcome.epoch);
    assert.equal(info.seq, 3);
    assert.deepEqual(
      new Set(info.members.map((m: Frame) => `${m.id}:${m.name}`)),
      new Set([ann.welcome.you, bob.welcome.you].map((u) => `${(u as Frame).id}:${(u as Frame).name}`)),
    );

    // Ann's token still names Ann; her second tab is not a new member.
    const tab = await join(url({ token: ann.welcome.token as string }));
    assert.deepEqual(tab.welcome.you, ann.welcome.you);
    assert.deepEqual(
      (tab.welcome.messages as Frame[]).map((m) => `${m.seq}:${m.text}`),
      ["1:one", "2:two", "3:three"],
    );
    // The user-id counter carried on.
    const cat = await join(url({ name: "cat" }));
    assert.equal(Number((cat.welcome.you as Frame).id), Number((bob.welcome.you as Frame).id) + 1);

    // Rename and leave run through the rebuilt handlers too.
    bob.client.send({ type: "rename", name: "robert" });
    assert.deepEqual((await ann.client.next("renamed")).user, { id: (bob.welcome.you as Frame).id, name: "robert" });
    await bob.client.close();
    assert.equal(((await ann.client.next("left")).user as Frame).id, (bob.welcome.you as Frame).id);
    await Promise.all([ann.client.close(), tab.client.close(), cat.client.close()]);
  });

  test("keep-alive pings are answered without waking the room", { timeout: 90_000 }, async () => {
    const server = await start({ PARLEY_DB: ":memory:" });
    const ann = await join(`${server.wsUrl}/rooms/pinger/ws`);
    await sleep(QUIET_MS);
    ann.client.send({ type: "ping" });
    assert.equal((await ann.client.next("pong")).type, "pong");
    // Long enough for a wake-up line to show, had the ping woken the object.
    assert.deepEqual(await wakesWhen(server, 1, 2000), [], "the platform answered the ping");
    ann.client.send(say("hello", "hello"));
    assert.equal((await ann.client.next("ack")).seq, 1);
    assert.deepEqual(await wakesWhen(server, 1), [1], "a real frame wakes it: the object had been evicted");
    await ann.client.close();
  });
});

describe("workers: hibernation keeps what v2 needs", () => {
  test("a ban and a mute hold, and signed users keep their sub and role, across an eviction", {
    timeout: 90_000,
  }, async () => {
    const server = await start({ PARLEY_DB: `${tempDir()}/parley.db`, PARLEY_JWT_SECRET: TEST_JWT_SECRET });
    const path = (token: string) => `/rooms/guarded/ws?access_token=${token}`;
    const enter = async (claims: Parameters<typeof signToken>[0]) => {
      const token = await signToken(claims);
      return { token, ...(await join(server.wsUrl + path(token), { protocols: ["parley.v2"] })) };
    };
    const mod = await enter({ sub: "mod", role: "moderator" });
    const bob = await enter({ sub: "bob" });
    const carol = await enter({ sub: "carol" });
    const bobId = (bob.welcome.you as Frame).id;
    const carolYou = carol.welcome.you as Frame;
    assert.equal(carolYou.sub, "carol");

    mod.client.send({ type: "ban", user: bobId, ref: "ban" });
    assert.equal(typeof (await mod.client.next("ack")).seq, "number");
    mod.client.send({ type: "mute", user: carolYou.id, minutes: 10, ref: "mute" });
    const muteAck = await mod.client.next("ack");
    assert.equal(typeof muteAck.seq, "number");
    assert.deepEqual(wakes(server), [], "the room has not slept yet");
    // workerd closes the TCP connection some 10 s after the closing handshake; the room may be evicted,
    // and woken by that close, meanwhile.
    assert.deepEqual(await bob.client.closed, { code: 1008, reason: "banned" });

    // Quiet: no frame either way, no timer in the object, so the platform evicts it.
    await sleep(QUIET_MS);

    carol.client.send(say("am I free?", "after"));
    const err = await carol.client.next("error");
    assert.equal(err.code, "muted", JSON.stringify(err));
    assert.equal(err.ref, "after");
    assert.ok((err.retryAfterMs as number) > 0 && (err.retryAfterMs as number) <= 600_000);
    const woke = await wakesWhen(server, 1);
    assert.ok(woke.length >= 1, "the room was evicted after the ban and the mute");
    assert.equal(woke[woke.length - 1], 2, "the last instance rebuilt the room from its 2 sockets");

    const refused = refusedStatus(server.wsUrl + path(bob.token), { protocols: ["parley.v2"] });
    assert.equal(await within(refused, 10_000, "bob's join to be refused"), 403);
    const plain = await fetch(server.url + path(bob.token));
    assert.equal(plain.status, 403);
    assert.equal((await plain.json()).error.code, "banned");

    // The moderator's role and carol's sub came back from the sockets' attachments.
    mod.client.send({ type: "mute", user: carolYou.id, minutes: 0, ref: "unmute" });
    const unmute = await mod.client.next("moderated");
    assert.equal(unmute.action, "unmute");
    assert.deepEqual(unmute.by, mod.welcome.you);
    assert.deepEqual(unmute.user, carolYou);
    assert.equal((await mod.client.next("ack")).seq, (muteAck.seq as number) + 1);
    carol.client.send(say("thanks", "thanks"));
    const thanks = await mod.client.next("message");
    assert.deepEqual(thanks.by, carolYou);
    assert.deepEqual(thanks.from, carolYou);
    // The same sub still has the same id.
    const again = await enter({ sub: "carol" });
    assert.deepEqual(again.welcome.you, carolYou);
    await Promise.all([mod.client.close(), carol.client.close(), again.client.close()]);
  });
});

describe("workers: restart", () => {
  test("stop wrangler dev, start it on the same state: history, epoch, seq and ids carry on", {
    timeout: 120_000,
  }, async () => {
    const env = { PARLEY_DB: `${tempDir()}/parley.db` };
    let server = await start(env);
    const url = () => `${server.wsUrl}/rooms/lasting/ws?name=ann`;
    const ann = await join(url());
    for (const text of ["a", "b"]) {
      ann.client.send(say(text, text));
      await ann.client.next("ack");
    }
    await server.stop("SIGINT");
    await ann.client.closed;

    server = await start(env);
    const info = await (await fetch(`${server.url}/api/rooms/lasting`)).json();
    assert.equal(info.epoch, ann.welcome.epoch);
    assert.equal(info.seq, 2);
    const back = await join(`${server.wsUrl}/rooms/lasting/ws?token=${ann.welcome.token}`);
    assert.deepEqual(back.welcome.you, ann.welcome.you);
    assert.deepEqual(
      (back.welcome.messages as Frame[]).map((m) => m.text),
      ["a", "b"],
    );
    back.client.send(say("c", "c"));
    assert.equal((await back.client.next("message")).seq, 3);
    await back.client.close();
  });
});

describe("workers: deploy", () => {
  test("wrangler deploy --dry-run bundles the Worker and the ChatRoom class", { timeout: 120_000 }, () => {
    const out = tempDir();
    const run = spawnSync("node_modules/.bin/wrangler", ["deploy", "--dry-run", "--outdir", out], {
      encoding: "utf8",
      env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
    });
    assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
    const bundle = readdirSync(out).find((f) => f.endsWith(".js"));
    assert.ok(bundle, `no .js in ${readdirSync(out)}`);
    const code = readFileSync(joinPath(out, bundle), "utf8");
    // Plain booleans: a failed match would print the whole bundle.
    assert.ok(/\bChatRoom = class extends DurableObject\b/.test(code), "the bundle defines ChatRoom");
    assert.ok(/export\s*\{[^}]*\bChatRoom\b/.test(code), "the bundle exports ChatRoom");
    assert.ok(code.includes("acceptWebSocket("), "sockets go to the runtime with acceptWebSocket");
    // accept() would pin the object in memory and defeat hibernation.
    assert.ok(!/\.accept\(\s*\)/.test(code), "nothing calls accept()");
    assert.match(run.stdout, /env\.ROOMS \(ChatRoom\)\s+Durable Object/, "the Durable Object binding is listed");
  });
});

describe("workers: configuration", () => {
  test("a bad variable answers 500 with a JSON error, and the log names it", { timeout: 90_000 }, async () => {
    const server = await start({ PARLEY_DB: ":memory:", PARLEY_MAX_TEXT: "lots" });
    const res = await fetch(`${server.url}/healthz`);
    assert.equal(res.status, 500);
    assert.equal((await res.json()).error.code, "internal");
    // workerd's log reaches us a moment after the response (120–200 ms seen), so wait for the line.
    const named = /PARLEY_MAX_TEXT must be a whole number/;
    await eventually(
      () => named.test(server.output()),
      () => `the log to name the variable:\n${server.output()}`,
    );
  });
});

describe("workers: no watcher", () => {
  test("a test server neither rebuilds nor reloads when a source file or wrangler.toml changes", {
    timeout: 90_000,
  }, async () => {
    const server = await start({ PARLEY_DB: ":memory:" });
    const ann = await join(`${server.wsUrl}/rooms/steady/ws`);
    // A touch, not an edit: a new modification time is what wrangler's watchers react to.
    const now = new Date();
    for (const file of ["src/config.ts", "src/adapter/workers/index.ts", "wrangler.toml"]) utimesSync(file, now, now);
    await sleep(2500);
    // From the start: a watcher's first scan also used to rebuild, at whatever point of a test it ended.
    assert.doesNotMatch(server.output(), /changed, restarting|Reloading local server|updated and ready/);
    // The same socket still works: a reload would have dropped it.
    ann.client.send(say("still here", "still"));
    assert.equal((await ann.client.next("ack")).seq, 1);
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    await ann.client.close();
  });
});
