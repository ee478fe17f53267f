/**
 * The one Hono app: page, health, the chat socket and the room API. Every runtime builds it with
 * `createApp`, passing its own `upgradeWebSocket`; nothing here touches a runtime API.
 */
import { type Context, Hono } from "hono";
import { secureHeaders } from "hono/secure-headers";
import type { UpgradeWebSocket, WSContext } from "hono/ws";
import * as v from "valibot";
import type { Config } from "./config.ts";
import { randomHex } from "./ids.ts";
import { pageAssets } from "./page/index.ts";
import { CLOSE, checkName, type HttpError, ROOM_NAME, ROOM_NAME_RULE, SUBPROTOCOL } from "./protocol/index.ts";
import type { JoinRequest } from "./room.ts";
import type { RoomService } from "./rooms.ts";
import type { Connection } from "./session.ts";

export interface AppOptions {
  // biome-ignore lint/suspicious/noExplicitAny: each runtime's helper has its own socket and option types.
  upgradeWebSocket: UpgradeWebSocket<any, any>;
  rooms: RoomService;
  config: Config;
  /** The connection behind a socket event; the record it holds must outlive the WSContext. */
  connection: (ws: WSContext) => Connection;
  /** The socket's peer address, as the runtime reports it. */
  clientAddress: (c: Context) => string;
  /** Log a server-side failure (never a token or a message text). */
  log?: (message: string) => void;
}

type Vars = { Variables: { join: { room: string; req: JoinRequest } } };

/** A JSON error answer: `{"error":{"code","message"}}`. */
export function httpError(c: Context, status: 400 | 403 | 404 | 426 | 429 | 500, code: string, message: string) {
  return c.json<HttpError>({ error: { code, message } }, status);
}

const decimal = (max: number) => v.pipe(v.string(), v.regex(/^\d{1,16}$/), v.transform(Number), v.maxValue(max));
const UpgradeQuery = v.object({
  name: v.optional(v.string()),
  token: v.optional(v.pipe(v.string(), v.maxLength(128))),
  since: v.optional(decimal(Number.MAX_SAFE_INTEGER)),
  epoch: v.optional(v.pipe(v.string(), v.maxLength(64))),
});
const PageQuery = v.object({
  before: v.optional(decimal(Number.MAX_SAFE_INTEGER)),
  limit: v.optional(v.pipe(decimal(100), v.minValue(1))),
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

/** Page, health, room creation, and JSON answers for 404 and failures: what every front serves itself. */
function baseApp(log: (m: string) => void) {
  const app = new Hono<Vars>();
  // Header middleware stays off the socket route: rewriting headers of a 101 response throws.
  const headers = secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'self'"],
      connectSrc: ["'self'", "ws:", "wss:"],
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

  app.get("/", (c) => c.html(pageAssets.html));
  app.get("/app.js", (c) => c.body(pageAssets.script, 200, { "content-type": "text/javascript; charset=utf-8" }));
  app.get("/app.css", (c) => c.body(pageAssets.style, 200, { "content-type": "text/css; charset=utf-8" }));
  app.get("/healthz", (c) => c.json({ ok: true }));
  app.post("/api/rooms", (c) => c.json({ room: randomHex(16) }, 201));

  app.notFound((c) => httpError(c, 404, "not_found", "no such endpoint"));
  app.onError((err, c) => {
    log(`request failed: ${(err as Error).message}`);
    return httpError(c, 500, "internal", "the server failed");
  });
  return app;
}

/**
 * Checks 1 and 2 of an upgrade (room name and query values, then origin). Returns the error answer, or
 * what the client asked for.
 */
function checkUpgrade(c: Context, config: Config): Response | { room: string; req: Omit<JoinRequest, "ip"> } {
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
  return { room, req: { ...q.output, name } };
}

const logToConsole = (m: string) => console.error(`parley: ${m}`);

/** Run a socket handler; a throw closes that socket with 1011 instead of reaching the runtime. */
function guarded(log: (m: string) => void) {
  return (ws: WSContext, fn: () => void) => {
    try {
      fn();
    } catch (err) {
      log(`socket handler failed: ${(err as Error).stack ?? err}`);
      try {
        ws.close(CLOSE.internal, "internal error");
      } catch {}
    }
  };
}

/**
 * The socket handlers that need nothing but the socket: every later event works from the connection's
 * record. A Durable Object woken from hibernation dispatches to these, having lost the upgrade's closure.
 */
export function socketEvents(rooms: RoomService, connection: (ws: WSContext) => Connection, log = logToConsole) {
  const guard = guarded(log);
  return {
    onMessage: (e: MessageEvent, ws: WSContext) => guard(ws, () => rooms.receive(connection(ws), e.data)),
    onClose: (_e: CloseEvent, ws: WSContext) => guard(ws, () => rooms.leave(connection(ws))),
    onError: (_e: Event, ws: WSContext) => guard(ws, () => rooms.leave(connection(ws))),
  };
}

/** Build the Parley app for one runtime (on Workers: inside a room's Durable Object). */
export function createApp(opts: AppOptions) {
  const { rooms, config, connection } = opts;
  const log = opts.log ?? logToConsole;
  const app = baseApp(log);
  const guard = guarded(log);
  const later = socketEvents(rooms, connection, log);

  const clientIp = (c: Context) => {
    const forwarded = config.trustProxy ? c.req.header("x-forwarded-for")?.split(",")[0]?.trim() : undefined;
    return forwarded || opts.clientAddress(c);
  };

  // Checks in the order of docs/protocol.md, each answering before any upgrade.
  app.get(
    "/rooms/:room/ws",
    async (c, next) => {
      const asked = checkUpgrade(c, config);
      if (asked instanceof Response) return asked;
      const ip = clientIp(c);
      if (config.maxConnectionsPerIp > 0 && rooms.connectionsFrom(ip) >= config.maxConnectionsPerIp) {
        return httpError(c, 429, "too_many_connections", "too many open connections from this address");
      }
      c.set("join", { room: asked.room, req: { ...asked.req, ip } });
      await next();
    },
    opts.upgradeWebSocket((c: Context<Vars>) => {
      const { room, req } = c.get("join");
      return { onOpen: (_e: Event, ws: WSContext) => guard(ws, () => rooms.join(room, connection(ws), req)), ...later };
    }),
    (c) => {
      c.header("Upgrade", "websocket");
      return httpError(c, 426, "upgrade_required", "this endpoint takes a WebSocket upgrade");
    },
  );

  app.get("/api/rooms/:room", (c) => {
    const room = c.req.param("room");
    if (!ROOM_NAME.test(room)) return httpError(c, 400, "bad_room", ROOM_NAME_RULE);
    return c.json(rooms.info(room));
  });

  app.get("/api/rooms/:room/messages", (c) => {
    const room = c.req.param("room");
    if (!ROOM_NAME.test(room)) return httpError(c, 400, "bad_room", ROOM_NAME_RULE);
    const q = v.safeParse(PageQuery, c.req.query());
    if (!q.success) {
      const key = q.issues[0].path?.[0]?.key;
      return httpError(c, 400, "bad_query", `${String(key)} must be a whole number (limit 1–100)`);
    }
    return c.json(rooms.history(room, q.output.limit ?? 50, q.output.before));
  });

  return app;
}

/**
 * The front of a deployment whose rooms live elsewhere (Workers: one Durable Object per room). It answers
 * what needs no room itself, checks room names and origins, and forwards the rest to the room.
 */
export function createEdgeApp(opts: {
  config: Config;
  forward: (room: string, request: Request) => Promise<Response>;
}) {
  const app = baseApp(logToConsole);
  app.get("/rooms/:room/ws", (c) => {
    const asked = checkUpgrade(c, opts.config);
    return asked instanceof Response ? asked : opts.forward(asked.room, c.req.raw);
  });
  const toRoom = async (c: Context): Promise<Response> => {
    const room = c.req.param("room") ?? "";
    if (!ROOM_NAME.test(room)) return httpError(c, 400, "bad_room", ROOM_NAME_RULE);
    // A fetched response has immutable headers; copy it so the header middleware can set its own.
    const res = await opts.forward(room, c.req.raw);
    return new Response(res.body, res);
  };
  app.get("/api/rooms/:room", toRoom);
  app.get("/api/rooms/:room/messages", toRoom);
  return app;
}

/** Pick `parley.v1` when a client offers it (Sec-WebSocket-Protocol), else no subprotocol. */
export function selectProtocol(offer: string | null | undefined): string | undefined {
  return offer?.split(",").some((p) => p.trim() === SUBPROTOCOL) ? SUBPROTOCOL : undefined;
}
