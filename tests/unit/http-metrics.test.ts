/**
 * Which HTTP requests the process host's request metrics see (src/http.ts): every answer of a standard
 * method, a refused Host's included; never an upgrade, and never a made-up method, whose name would be a
 * series of its own (Node's parser refuses one, but Deno and Bun pass any token on).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { MiddlewareHandler } from "hono";
import { loadConfig } from "../../src/config.ts";
import { baseApp } from "../../src/http.ts";

test("the request metrics see standard methods' answers, not upgrades or made-up methods", async () => {
  const seen: string[] = [];
  const requests: MiddlewareHandler = async (c, next) => {
    await next();
    seen.push(`${c.req.method} ${c.req.routePath} ${c.res.status}`);
  };
  const app = baseApp(loadConfig({}), true, () => {}, requests);
  app.get("/rooms/:room/ws", (c) => c.body(null, 426));
  const ask = (path: string, init: RequestInit & { headers?: Record<string, string> } = {}) =>
    app.request(`http://127.0.0.1${path}`, { ...init, headers: { host: "127.0.0.1", ...init.headers } });

  assert.equal((await ask("/healthz")).status, 200);
  assert.equal((await ask("/nowhere", { method: "DELETE" })).status, 404);
  assert.equal((await ask("/healthz", { headers: { host: "evil.example" } })).status, 403);
  assert.equal((await ask("/rooms/lobby/ws")).status, 426, "a plain GET of the socket's URL is an answer like any");
  assert.deepEqual(seen, ["GET /healthz 200", "DELETE /* 404", "GET /* 403", "GET /rooms/:room/ws 426"]);

  seen.length = 0;
  await ask("/rooms/lobby/ws", { headers: { upgrade: "websocket", connection: "Upgrade" } });
  await ask("/healthz", { method: "PARLEYX" });
  assert.deepEqual(seen, [], "neither an upgrade nor a made-up method is measured");
});
