/**
 * The receivers of docs/webhooks.md: the docs show examples/webhook-*.ts as they are, the signature checks
 * accept what a server signs and refuse what it did not (or long ago), and both receivers, fed by a real
 * Parley (dist/node.mjs), hand each entry to the application once, in order, across a redelivery.
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import type http from "node:http";
import type net from "node:net";
import { join as joinPath } from "node:path";
import { after, describe, test } from "node:test";
import { serve } from "@hono/node-server";
import { type Entry, webhookApp } from "../../examples/webhook-hono.ts";
import { receiver, verify } from "../../examples/webhook-node.ts";
import { verifyParleySignature } from "../../examples/webhook-verify.ts";
import { runtimes } from "../helpers/runtimes.ts";
import { type RunningServer, startServer } from "../helpers/server.ts";
import { eventually } from "../helpers/wait.ts";

const ROOT = joinPath(import.meta.dirname, "..", "..");
const API_KEY = "parley-test-api-key-0123456789";
const SECRET = "parley-test-webhook-secret-0123456789";

/** A signature header as Parley makes it, for `body` at `t` (seconds). */
const sign = (body: string, t = Math.floor(Date.now() / 1000), secret = SECRET) =>
  `t=${t},v1=${createHmac("sha256", secret).update(`${t}.${body}`).digest("hex")}`;

/** Both checks, so that each case is asserted of each. */
const checks: [string, (header: string | undefined, body: string) => Promise<boolean>][] = [
  ["verifyParleySignature (Web Crypto)", (h, b) => verifyParleySignature(SECRET, h, b)],
  ["verify (node:crypto)", async (h, b) => verify(SECRET, h, Buffer.from(b))],
];

describe("examples: signature checks", () => {
  const body = JSON.stringify({ room: "lobby", epoch: "e1", entries: [{ type: "message", seq: 1, text: "héllo ✓" }] });
  const now = Math.floor(Date.now() / 1000);
  const good = sign(body, now);
  const mac = good.split("v1=")[1];
  const cases: [string, string | undefined, string, boolean][] = [
    ["a good signature", good, body, true],
    ["t 4 minutes ago", sign(body, now - 240), body, true],
    ["another body", good, body.replace("héllo", "hello"), false],
    ["another secret", sign(body, now, `${SECRET}x`), body, false],
    ["t 6 minutes ago", sign(body, now - 360), body, false],
    ["t 6 minutes ahead", sign(body, now + 360), body, false],
    ["the signature of another t", `t=${now - 1},v1=${mac}`, body, false],
    ["no header", undefined, body, false],
    ["an empty header", "", body, false],
    ["no t", `v1=${mac}`, body, false],
    ["no v1", `t=${now}`, body, false],
    ["a t that is not a number", `t=now,v1=${mac}`, body, false],
    ["a short v1", `t=${now},v1=${mac.slice(0, 62)}`, body, false],
    ["a v1 that is not hex", `t=${now},v1=${"z".repeat(64)}`, body, false],
    ["a second v1 that matches (a rotated secret)", `t=${now},v1=${"0".repeat(64)},v1=${mac}`, body, true],
  ];
  for (const [name, check] of checks) {
    test(`${name}: accepts what was signed, refuses the rest`, async () => {
      for (const [what, header, b, expected] of cases) assert.equal(await check(header, b), expected, what);
    });
  }
});

test("docs/webhooks.md shows the examples exactly as they are in examples/", () => {
  const doc = readFileSync(joinPath(ROOT, "docs", "webhooks.md"), "utf8");
  const blocks = [...doc.matchAll(/```ts\n(\/\/ (examples\/[\w.-]+\.ts)[^\n]*\n[\s\S]*?)```/g)];
  assert.deepEqual(blocks.map((b) => b[2]).sort(), [
    "examples/webhook-hono.ts",
    "examples/webhook-node.ts",
    "examples/webhook-verify.ts",
  ]);
  for (const [, block, path] of blocks) assert.equal(block, readFileSync(joinPath(ROOT, path), "utf8"), path);
});

describe("examples: receivers fed by a real server", () => {
  const stops: (() => Promise<unknown>)[] = [];
  after(() => Promise.all(stops.map((s) => s())));

  /** A receiver on a free port; `listen` starts it and returns its URL. */
  const receivers: [string, (onEntry: (room: string, entry: Entry) => void) => Promise<string>][] = [
    [
      "webhookApp (Hono)",
      (onEntry) =>
        new Promise((resolve) => {
          const server = serve({ fetch: webhookApp(SECRET, onEntry).fetch, hostname: "127.0.0.1", port: 0 }, (info) =>
            resolve(`http://127.0.0.1:${info.port}/parley`),
          ) as http.Server;
          stops.push(() => new Promise((r) => server.close(r)));
        }),
    ],
    [
      "receiver (node:http)",
      (onEntry) =>
        new Promise((resolve) => {
          const server = receiver(SECRET, onEntry);
          server.listen(0, "127.0.0.1", () =>
            resolve(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}/`),
          );
          stops.push(() => new Promise((r) => server.close(r)));
        }),
    ],
  ];

  for (const [name, listen] of receivers) {
    test(`${name}: each entry once, in order, through a failure and a replayed delivery; forgeries refused`, {
      timeout: 60_000,
    }, async () => {
      const handled: string[] = [];
      let failOnce = true;
      const url = await listen((room, entry) => {
        // The application fails on entry 2 once: the receiver answers 500 and Parley delivers it again.
        if (entry.seq === 2 && failOnce) {
          failOnce = false;
          throw new Error("the database was busy");
        }
        handled.push(`${room}:${entry.seq}:${entry.text}`);
      });
      const env = {
        PARLEY_DB: ":memory:",
        PARLEY_API_KEY: API_KEY,
        PARLEY_WEBHOOK_URL: url,
        PARLEY_WEBHOOK_SECRET: SECRET,
        PARLEY_WEBHOOK_RETRY_MS: "100",
      };
      const parley: RunningServer = await startServer(() => runtimes.node.command(env), env);
      stops.push(() => parley.stop("SIGKILL"));
      for (const text of ["one", "two", "three"]) {
        const res = await fetch(`${parley.url}/api/rooms/docs/messages`, {
          method: "POST",
          headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
          body: JSON.stringify({ text, from: { name: "docs" } }),
        });
        assert.equal(res.status, 201, await res.text());
      }
      const want = ["docs:1:one", "docs:2:two", "docs:3:three"];
      await eventually(
        () => handled.length >= 3,
        () => `three entries handled: ${JSON.stringify(handled)}`,
        15_000,
      );
      assert.deepEqual(handled, want);
      assert.equal(failOnce, false, "the failure happened");

      // A delivery that comes again is signed as well, and changes nothing.
      const epoch = (await (await fetch(`${parley.url}/api/rooms/docs`)).json()).epoch;
      const entries = (
        await (
          await fetch(`${parley.url}/api/rooms/docs/entries`, { headers: { authorization: `Bearer ${API_KEY}` } })
        ).json()
      ).entries;
      const again = JSON.stringify({ room: "docs", epoch, entries: entries.slice(1) });
      const post = (body: string, signature?: string) =>
        fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json", ...(signature && { "parley-signature": signature }) },
          body,
        });
      assert.equal((await post(again, sign(again))).status, 204);
      assert.deepEqual(handled, want, "a replayed delivery is not handled twice");

      // Forgeries: no signature, a wrong secret, an old one.
      const forged = JSON.stringify({ room: "docs", epoch, entries: [{ ...entries[0], seq: 4, text: "forged" }] });
      for (const signature of [
        undefined,
        sign(forged, undefined, "not-the-secret-0123456789"),
        sign(forged, 1_600_000_000),
      ]) {
        assert.equal((await post(forged, signature)).status, 401);
      }
      assert.deepEqual(handled, want, "nothing forged was handled");
    });
  }
});
