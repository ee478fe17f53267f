/**
 * The HTTP front that every deployment answers itself, before any room is involved: the page, health,
 * room creation, JSON errors, and the checks of a socket request in the contract's order (Host, room
 * and query, origin, connect rate). `createApp` and the Workers edge (`createEdgeApp`) both build on it.
 */
import { type Context, Hono, type MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import { secureHeaders } from "hono/secure-headers";
import * as v from "valibot";
import type { Access, Identity } from "./auth.ts";
import type { Config } from "./config.ts";
import { randomHex } from "./ids.ts";
import { addressGroup } from "./limits.ts";
import { openapi } from "./openapi.gen.ts";
import { pageAssets } from "./page/index.ts";
import { checkName, type HttpError, ROOM_NAME, ROOM_NAME_RULE } from "./protocol/index.ts";
import type { JoinRequest } from "./room.ts";

type Status = 400 | 401 | 403 | 404 | 426 | 429 | 500;

/** A JSON error answer: `{"error":{"code","message"}}`. */
export function httpError(c: Context, status: Status, code: string, message: string) {
  return c.json<HttpError>({ error: { code, message } }, status);
}

const decimal = (max: number) => v.pipe(v.string(), v.regex(/^\d{1,16}$/), v.transform(Number), v.maxValue(max));
const UpgradeQuery = v.object({
  name: v.optional(v.string()),
  token: v.optional(v.pipe(v.string(), v.maxLength(128))),
  since: v.optional(decimal(Number.MAX_SAFE_INTEGER)),
  epoch: v.optional(v.pipe(v.string(), v.maxLength(64))),
});

/** Whether a browser page of `origin` may open a socket on the server its `Host` header names. */
export function originAllowed(origin: string | undefined, hostHeader: string | undefined, allowed: string[]): boolean {
  if (origin === undefined) return true;
  if (allowed.includes("*")) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (allowed.some((a) => a === origin || a === url.origin)) return true;
  // Scheme is ignored: a page on https://h:p and a socket reached through a TLS proxy as http://h:p match.
  return hostHeader !== undefined && url.host.toLowerCase() === hostHeader.toLowerCase();
}

const LOOPBACK_HOST = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/;

/** The host name of a `Host` header, lowercase, without its port. */
function hostName(hostHeader: string): string {
  const h = hostHeader.trim().toLowerCase();
  return h.startsWith("[") ? h.slice(0, h.indexOf("]") + 1) : h.replace(/:\d*$/, "");
}

/** Whether a listen address is a loopback one (the default, 127.0.0.1). */
export function isLoopback(listenAddress: string): boolean {
  const a = listenAddress.toLowerCase();
  return a === "localhost" || a === "::1" || a === "[::1]" || /^127(\.\d{1,3}){3}$/.test(a);
}

/**
 * The DNS-rebinding check: a server on a loopback address answers only a loopback `Host` or one listed
 * in `PARLEY_ALLOWED_HOSTS`; elsewhere (Workers included) the list is checked only when it is set.
 * A listed name without a port matches any port.
 */
export function hostAllowed(hostHeader: string | undefined, config: Config, loopback: boolean): boolean {
  const listed = config.allowedHosts;
  if (!loopback && listed.length === 0) return true;
  if (hostHeader === undefined) return false;
  const full = hostHeader.trim().toLowerCase();
  const name = hostName(full);
  if (listed.includes(full) || listed.includes(name)) return true;
  return loopback && LOOPBACK_HOST.test(name);
}

/**
 * The client's address: the peer's, or behind `N` trusted proxies the `N`-th `X-Forwarded-For` entry
 * from the right (the address your outermost proxy saw; entries left of it are the client's to forge).
 */
export function clientAddress(c: Context, trustProxy: number, peer: () => string): string {
  if (trustProxy > 0) {
    const entries = c.req.header("x-forwarded-for")?.split(",") ?? [];
    const entry = entries[entries.length - trustProxy]?.trim();
    if (entry) return entry;
  }
  return peer();
}

/** Answer with `Retry-After` in whole seconds (at least 1), as a 429 must. */
export function tooMany(c: Context, waitMs: number, code: string, message: string) {
  c.header("Retry-After", String(Math.max(1, Math.ceil(waitMs / 1000))));
  return httpError(c, 429, code, message);
}

/** The CORS headers for an allowed origin, set by hand where a middleware must not touch the response. */
function corsFor(c: Context, config: Config): void {
  const origin = c.req.header("origin");
  if (origin === undefined || !originListed(origin, config)) return;
  c.header("Access-Control-Allow-Origin", config.allowedOrigins.includes("*") ? "*" : origin);
  c.header("Access-Control-Expose-Headers", "Retry-After");
  c.header("Vary", "Origin");
}

function originListed(origin: string, config: Config): boolean {
  return config.allowedOrigins.includes("*") || config.allowedOrigins.includes(origin);
}

/** What a socket request asked for, once the checks before the room passed. */
export interface Asked {
  room: string;
  req: Omit<JoinRequest, "group">;
  /** The client's address group. */
  group: string;
  /** The signed user, when the request carried a valid access token. */
  identity?: Identity;
}

/** The access step of a request to `room`: anonymous, signed, or refused (PROTOCOL-v2 section 2). */
export type AccessCheck = (c: Context, room: string) => Promise<Access>;

/**
 * The socket route's checks before the room, in the contract's order: room and query `400`, origin
 * `403`, connect rate `429`, access `401` or `403 forbidden`. Every request that reaches here takes a
 * connect token, whatever its answer, so probing with bad requests costs the same as connecting. Returns
 * the refusal, or what was asked for. A refusal carries CORS headers for an allowed origin, so a page
 * can read why.
 */
export async function checkSocketRequest(
  c: Context,
  config: Config,
  address: string,
  connectRate: (group: string) => number | Promise<number>,
  access: AccessCheck,
): Promise<Response | Asked> {
  const group = addressGroup(address);
  const wait = await connectRate(group);
  corsFor(c, config);
  const room = c.req.param("room") ?? "";
  if (!ROOM_NAME.test(room)) return httpError(c, 400, "bad_room", ROOM_NAME_RULE);
  const q = v.safeParse(UpgradeQuery, c.req.query());
  if (!q.success) {
    const key = q.issues[0].path?.[0]?.key;
    return httpError(c, 400, "bad_query", `bad value for ${String(key ?? "a query parameter")}`);
  }
  let name: string | undefined;
  if (q.output.name !== undefined) {
    const ok = checkName(q.output.name);
    if (!ok.ok) return httpError(c, 400, "bad_name", ok.message);
    name = ok.name;
  }
  if (!originAllowed(c.req.header("origin"), c.req.header("host"), config.allowedOrigins)) {
    return httpError(c, 403, "forbidden_origin", "this origin may not open chat sockets here");
  }
  if (wait > 0) return tooMany(c, wait, "too_many_attempts", "too many connection attempts from this address");
  const granted = await access(c, room);
  if (granted.kind === "refused") return httpError(c, granted.status, granted.code, granted.message);
  const identity = granted.kind === "signed" ? granted.identity : undefined;
  // A signed user's name is the token's: `?name=` is ignored.
  return { room, req: { ...q.output, name: identity ? undefined : name }, group, identity };
}

/** The room name of a read, or its refusal. */
export function roomOf(c: Context): string | Response {
  const room = c.req.param("room") ?? "";
  return ROOM_NAME.test(room) ? room : httpError(c, 400, "bad_room", ROOM_NAME_RULE);
}

/** The methods HTTP metrics count: Deno and Bun pass any token as a method, and each would be a series. */
const MEASURED_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/**
 * Page, health, room creation, and JSON answers for 404 and failures: what every front serves itself,
 * behind the Host check. `loopback`: whether the server listens on a loopback address.
 */
export function baseApp<E extends object>(
  config: Config,
  loopback: boolean,
  log: (m: string) => void,
  requests?: MiddlewareHandler,
) {
  const app = new Hono<E>();
  if (requests) {
    // First, so that every answer is measured, a refused host's included. Upgrades are left out: they are
    // counted as connections and refusals, and nothing should wrap a 101 response. A method outside the
    // standard ones is not measured at all, since its name would become a label value.
    app.use("*", (c, next) =>
      c.req.header("upgrade") !== undefined || !MEASURED_METHODS.has(c.req.method) ? next() : requests(c, next),
    );
  }
  // Before any route, on every route: a page on a rebound name must learn nothing from any answer.
  app.use("*", async (c, next) => {
    // Every HTTP/1.1 request has a Host; one built in code (app.request) has only its URL.
    if (!hostAllowed(c.req.header("host") ?? new URL(c.req.url).host, config, loopback)) {
      return httpError(c, 403, "forbidden_host", "this server does not answer for that host name");
    }
    await next();
  });
  // Header middleware stays off the socket route: rewriting headers of a 101 response throws.
  const headers = secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'self'"],
      // 'self' covers ws: and wss: to the page's own host (CSP Level 3).
      connectSrc: ["'self'"],
      imgSrc: ["'self'", "data:"],
      styleSrc: ["'self'"],
      scriptSrc: ["'self'"],
      objectSrc: ["'none'"],
      baseUri: ["'none'"],
      frameAncestors: ["'none'"],
    },
  });
  app.use("/", headers);
  app.use("/app.*", headers);
  app.use("/healthz", headers);
  app.use("/api/*", headers);
  // The public reads answer a page on an allowed origin, and let it send an access token.
  const readsCors = cors({
    origin: (origin) => (originListed(origin, config) ? origin : null),
    allowMethods: ["GET"],
    allowHeaders: ["Authorization"],
    exposeHeaders: ["Retry-After"],
  });
  // The public reads only: the backend API on the same paths sends no CORS headers.
  const onReads: typeof readsCors = async (c, next) =>
    c.req.method === "GET" || c.req.method === "OPTIONS" ? readsCors(c, next) : next();
  app.use("/api/rooms/:room", onReads);
  app.use("/api/rooms/:room/messages", onReads);
  // A preflight for the socket URL's plain GET (a page that asks why its handshake failed, with a token).
  app.options("/rooms/:room/ws", (c) => {
    const origin = c.req.header("origin");
    if (origin !== undefined && originListed(origin, config)) {
      corsFor(c, config);
      c.header("Access-Control-Allow-Methods", "GET");
      c.header("Access-Control-Allow-Headers", "Authorization");
    }
    return c.body(null, 204);
  });

  app.get("/", (c) => c.html(pageAssets.html));
  app.get("/app.js", (c) => c.body(pageAssets.script, 200, { "content-type": "text/javascript; charset=utf-8" }));
  app.get("/app.css", (c) => c.body(pageAssets.style, 200, { "content-type": "text/css; charset=utf-8" }));
  app.get("/healthz", (c) => c.json({ ok: true }));
  // The HTTP API's OpenAPI document, generated from its validators (scripts/contract.ts); always public.
  app.get("/openapi.json", (c) => c.json(openapi));
  app.post("/api/rooms", (c) => c.json({ room: randomHex(16) }, 201));

  app.notFound((c) => httpError(c, 404, "not_found", "no such endpoint"));
  app.onError((err, c) => {
    log(`request failed: ${(err as Error).message}`);
    return httpError(c, 500, "internal", "the server failed");
  });
  return app;
}
