/**
 * The application's backend API (PROTOCOL-v2 section 4): post a message as a bot, delete a message,
 * moderate, and follow a room's raw entries. Behind `PARLEY_API_KEY`: without one every route here is
 * `404`, whatever the request carries; with one, a request without `Authorization: Bearer <key>` is
 * `401`. The key is compared in constant time, and a Bearer equal to it is never parsed as a JWT. No
 * CORS headers: a backend is not a browser page. Every body is validated with valibot.
 */
import type { Context, Hono } from "hono";
import * as v from "valibot";
import { decimal, EntriesQuery, ModerationBody, PostBody } from "./api-schemas.ts";
import type { Config } from "./config.ts";
import { httpError, roomOf } from "./http.ts";
import { checkName, checkText, NAME_MAX } from "./protocol/index.ts";
import type { ApiAnswer, RoomService } from "./rooms.ts";

/** Equal strings, compared in time that does not depend on where they first differ. */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/** Whether a request carries the API key as its Bearer. */
export function hasApiKey(c: Context, config: Config): boolean {
  const header = c.req.header("authorization") ?? "";
  const bearer = /^Bearer (.+)$/i.exec(header)?.[1] ?? "";
  return config.apiKey !== undefined && constantTimeEqual(bearer, config.apiKey);
}

/** The body as JSON validated by `schema`, or the 400 to answer. */
async function body<S extends v.GenericSchema>(c: Context, schema: S): Promise<v.InferOutput<S> | Response> {
  let json: unknown;
  try {
    json = await c.req.json();
  } catch {
    return httpError(c, 400, "bad_body", "the body must be JSON");
  }
  const parsed = v.safeParse(schema, json);
  if (parsed.success) return parsed.output;
  const issue = parsed.issues[0];
  const path = issue.path?.map((p) => String(p.key)).join(".");
  return httpError(c, 400, "bad_body", (path ? `${path}: ${issue.message}` : issue.message).slice(0, 200));
}

function reply(c: Context, answer: ApiAnswer): Response {
  return "body" in answer
    ? c.json(answer.body, answer.status)
    : httpError(c, answer.status, answer.code, answer.message);
}

/** Mount the backend API on `app`, for rooms in `rooms` (on Workers: inside the room's object). */
export function mountApi(app: Hono, config: Config, rooms: RoomService): void {
  // Each route is guarded on its own: POST …/messages shares its path with the public read.
  const guarded = guard(config);
  app.post("/api/rooms/:room/messages", guarded, async (c) => {
    const room = roomOf(c);
    if (room instanceof Response) return room;
    const b = await body(c, PostBody);
    if (b instanceof Response) return b;
    const named = checkName(b.from.name);
    if (!named.ok) return httpError(c, 400, "bad_name", named.message);
    // The same text rules as a socket's `say`; what is not too long is a bad body here, as for every body.
    const text = checkText(b.text, config.maxText);
    if (!text.ok) return httpError(c, 400, text.code === "too_long" ? "too_long" : "bad_body", text.message);
    const from = { name: named.name.slice(0, NAME_MAX), ...(b.from.sub !== undefined && { sub: b.from.sub }) };
    return reply(c, rooms.api(room, { op: "post", text: b.text, from, ref: b.ref, replyTo: b.replyTo }));
  });
  app.delete("/api/rooms/:room/messages/:seq", guarded, (c) => {
    const room = roomOf(c);
    if (room instanceof Response) return room;
    const seq = v.safeParse(decimal(1, Number.MAX_SAFE_INTEGER), c.req.param("seq"));
    if (!seq.success) return httpError(c, 400, "bad_query", "seq must be a whole number from 1");
    return reply(c, rooms.api(room, { op: "delete", seq: seq.output }));
  });
  app.post("/api/rooms/:room/moderation", guarded, async (c) => {
    const room = roomOf(c);
    if (room instanceof Response) return room;
    const b = await body(c, ModerationBody);
    if (b instanceof Response) return b;
    return reply(c, rooms.api(room, { op: "moderate", ...b }));
  });
  app.get("/api/rooms/:room/entries", guarded, (c) => {
    const room = roomOf(c);
    if (room instanceof Response) return room;
    const q = v.safeParse(EntriesQuery, c.req.query());
    if (!q.success) return httpError(c, 400, "bad_query", "after must be a whole number, limit 1–1000");
    return c.json(rooms.entries(room, q.output.after ?? 0, q.output.limit ?? 100));
  });
}

/** 404 without a configured key (the API does not exist), 401 without the right Bearer. */
export function guard(config: Config) {
  return async (c: Context, next: () => Promise<void>) => {
    if (config.apiKey === undefined) return httpError(c, 404, "not_found", "no such endpoint");
    if (!hasApiKey(c, config)) return httpError(c, 401, "unauthorized", "this endpoint needs the API key as a Bearer");
    await next();
  };
}
