/**
 * The one Hono app: page, health, the chat socket and the room API. Every runtime builds it with
 * `createApp`, passing its own `upgradeWebSocket`; nothing here touches a runtime API.
 */
import type { Context, Hono, MiddlewareHandler } from "hono";
import type { UpgradeWebSocket, WSContext } from "hono/ws";
import * as v from "valibot";
import { guard, hasApiKey, mountApi } from "./api.ts";
import { PageQuery } from "./api-schemas.ts";
import { type Access, checkAccess, createVerifier, type Identity } from "./auth.ts";
import type { Config } from "./config.ts";
import {
  type AccessCheck,
  baseApp,
  checkSocketRequest,
  clientAddress,
  httpError,
  isLoopback,
  roomOf,
  tooMany,
} from "./http.ts";
import { KeyedLimiter, type Slot } from "./limits.ts";
import { log as logEvent } from "./log.ts";
import { meter } from "./metrics.ts";
import { CLOSE, CROWDED_RETRY_MS, SUBPROTOCOL, SUBPROTOCOL_V2 } from "./protocol/index.ts";
import type { JoinRequest } from "./room.ts";
import type { RoomService } from "./rooms.ts";
import { type Connection, closedByClient } from "./session.ts";

export { httpError, originAllowed } from "./http.ts";

export interface AppOptions {
  // biome-ignore lint/suspicious/noExplicitAny: each runtime's helper has its own socket and option types.
  upgradeWebSocket: UpgradeWebSocket<any, any>;
  rooms: RoomService;
  config: Config;
  /** The connection behind a socket event; the record it holds must outlive the WSContext. */
  connection: (ws: WSContext) => Connection;
  /** The socket's peer address, as the runtime reports it. */
  clientAddress: (c: Context) => string;
  /** Measures each HTTP request but the socket's (the process host's HTTP metrics). */
  requests?: MiddlewareHandler;
  /**
   * Take a connection attempt for an address group: 0 when allowed, else the milliseconds to wait.
   * Default: a limiter in this app's memory, from `PARLEY_CONNECT_BURST` and `PARLEY_CONNECT_PER_SEC`.
   * A Durable Object passes none that limits, since its Worker already took the attempt.
   */
  connectRate?: (group: string) => number;
  /** Whether the server listens on a loopback address (the Host check). Default: from the config. */
  loopback?: boolean;
  /**
   * The access step (PROTOCOL-v2 section 2). Default: verify the request's access token here. A Durable
   * Object passes the identity its Worker verified (`identityFromEdge`), so a token is checked once.
   */
  access?: AccessCheck;
  /** Log a server-side failure (never a token or a message text). */
  log?: (message: string) => void;
}

type Vars = { Variables: { join: { room: string; req: JoinRequest; slot?: Slot } } };

const logToConsole = (m: string) => logEvent.error("handler_failed", { error: m });

/** The access check of a server that verifies tokens itself. */
export function verifyingAccess(config: Config): AccessCheck {
  const verifier = createVerifier(config);
  return (c, room) => checkAccess(c.req.raw, room, config.auth.mode, verifier);
}

/**
 * The header that carries a verified identity from the Workers edge to a room's object. The Worker
 * drops any copy a client sent and sets its own; an object is reachable only through its Worker.
 */
export const EDGE_IDENTITY = "x-parley-identity";

/** The access check of a Durable Object: what its Worker verified. */
export const identityFromEdge: AccessCheck = async (c): Promise<Access> => {
  const header = c.req.header(EDGE_IDENTITY);
  return header ? { kind: "signed", identity: JSON.parse(header) as Identity } : { kind: "anonymous" };
};

/** The protocol version a socket request selects: 2 when it offers `parley.v2`. */
function versionOf(c: Context): 1 | 2 {
  return selectProtocol(c.req.header("sec-websocket-protocol")) === SUBPROTOCOL_V2 ? 2 : 1;
}

/** A connect-rate limiter kept in this process's memory. */
export function memoryConnectRate(config: Config): (group: string) => number {
  const limiter = new KeyedLimiter(config.connectBurst, config.connectPerSec);
  return (group) => limiter.take(group, Date.now());
}

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
    onClose: (e: CloseEvent, ws: WSContext) =>
      guard(ws, () => {
        const conn = connection(ws);
        closedByClient(conn, e.code);
        rooms.leave(conn);
      }),
    onError: (_e: Event, ws: WSContext) => guard(ws, () => rooms.leave(connection(ws))),
  };
}

/** Build the Parley app for one runtime (on Workers: inside a room's Durable Object). */
export function createApp(opts: AppOptions) {
  const { rooms, config, connection } = opts;
  const log = opts.log ?? logToConsole;
  const app = baseApp<Vars>(config, opts.loopback ?? isLoopback(config.listenAddress), log, opts.requests);
  const guard = guarded(log);
  const later = socketEvents(rooms, connection, log);
  const connectRate = opts.connectRate ?? memoryConnectRate(config);
  const access = opts.access ?? verifyingAccess(config);

  // Checks in the order of docs/protocol.md, each answering before any upgrade.
  app.get(
    "/rooms/:room/ws",
    async (c, next) => {
      await next();
      // A refusal of an upgrade (a plain GET that asks why is not one): counted, and logged with its code.
      const status = c.res.status;
      if (status >= 400 && c.req.header("upgrade")?.toLowerCase() === "websocket") {
        meter.count("upgrades_refused", { status });
        logEvent.info("upgrade_refused", { status, room: c.req.param("room") });
      }
    },
    async (c, next) => {
      const address = clientAddress(c, config.trustProxy, () => opts.clientAddress(c));
      const asked = await checkSocketRequest(c, config, address, connectRate, access);
      if (asked instanceof Response) return asked;
      const { room, req, group, identity } = asked;
      const admission = rooms.admission(room, { identity, token: req.token, group });
      if (admission) return httpError(c, admission.status, admission.code, admission.message);
      // An upgrade takes its slot now, at the check, so simultaneous handshakes cannot pass the cap
      // together; a plain GET only looks.
      const upgrade = c.req.header("upgrade")?.toLowerCase() === "websocket";
      const slot = upgrade ? rooms.takeSlot(group) : undefined;
      const cap = config.maxConnectionsPerIp;
      if (upgrade ? !slot : cap > 0 && rooms.connectionsFrom(group) >= cap) {
        return tooMany(c, CROWDED_RETRY_MS, "too_many_connections", "too many open connections from this address");
      }
      c.set("join", { room, req: { ...req, group, identity, version: versionOf(c) }, slot });
      await next();
    },
    opts.upgradeWebSocket((c: Context<Vars>) => {
      const { room, req, slot } = c.get("join");
      return {
        onOpen: (_e: Event, ws: WSContext) => guard(ws, () => rooms.join(room, connection(ws), req, slot)),
        ...later,
      };
    }),
    (c) => {
      c.header("Upgrade", "websocket");
      return httpError(c, 426, "upgrade_required", "this endpoint takes a WebSocket upgrade");
    },
  );

  /** A read's room, once the access step let it through (public unless PARLEY_AUTH is required). */
  const readable = async (c: Context): Promise<string | Response> => {
    const room = roomOf(c);
    if (room instanceof Response) return room;
    // The backend's key reads any room; a Bearer equal to it is never parsed as a JWT.
    if (hasApiKey(c, config)) return room;
    const granted = await access(c, room);
    return granted.kind === "refused" ? httpError(c, granted.status, granted.code, granted.message) : room;
  };

  app.get("/api/rooms/:room", async (c) => {
    const room = await readable(c);
    return room instanceof Response ? room : c.json(rooms.info(room));
  });

  app.get("/api/rooms/:room/messages", async (c) => {
    const room = await readable(c);
    if (room instanceof Response) return room;
    const q = v.safeParse(PageQuery, c.req.query());
    if (!q.success) {
      const key = q.issues[0].path?.[0]?.key;
      return httpError(c, 400, "bad_query", `${String(key)} must be a whole number (limit 1–100)`);
    }
    return c.json(rooms.history(room, q.output.limit ?? 50, q.output.before));
  });

  mountApi(app as unknown as Hono, config, rooms);
  return app;
}

/**
 * The front of a deployment whose rooms live elsewhere (Workers: one Durable Object per room). It answers
 * what needs no room itself, runs the socket checks up to the connect rate (so a refused request wakes
 * no room), and forwards the rest to the room.
 */
export function createEdgeApp(opts: {
  config: Config;
  /** The client's address, or undefined when the platform did not say (refused, never pooled). */
  clientAddress: (c: Context) => string | undefined;
  connectRate: (group: string) => Promise<number>;
  forward: (room: string, request: Request) => Promise<Response>;
}) {
  const app = baseApp(opts.config, false, logToConsole);
  const access = verifyingAccess(opts.config);
  /** The request to forward: the identity the edge verified, and never one a client wrote. */
  const forwarded = (c: Context, identity: Identity | undefined): Request => {
    const req = new Request(c.req.raw);
    req.headers.delete(EDGE_IDENTITY);
    if (identity) req.headers.set(EDGE_IDENTITY, JSON.stringify(identity));
    return req;
  };
  app.get("/rooms/:room/ws", async (c) => {
    const address = opts.clientAddress(c);
    if (!address) return httpError(c, 400, "no_client_address", "the request carries no client address");
    const asked = await checkSocketRequest(c, opts.config, address, opts.connectRate, access);
    return asked instanceof Response ? asked : opts.forward(asked.room, forwarded(c, asked.identity));
  });
  const toRoom = async (c: Context): Promise<Response> => {
    const room = roomOf(c);
    if (room instanceof Response) return room;
    // The backend's key reads any room (the object checks it again); a Bearer equal to it is no JWT.
    const granted: Access = hasApiKey(c, opts.config) ? { kind: "anonymous" } : await access(c, room);
    if (granted.kind === "refused") return httpError(c, granted.status, granted.code, granted.message);
    // A fetched response has immutable headers; copy it so the header middleware can set its own.
    const res = await opts.forward(room, forwarded(c, granted.kind === "signed" ? granted.identity : undefined));
    return new Response(res.body, res);
  };
  app.get("/api/rooms/:room", toRoom);
  app.get("/api/rooms/:room/messages", toRoom);
  // The backend API: the key is checked here, and the room's object (which checks it again) does the rest.
  const toRoomApi = async (c: Context): Promise<Response> => {
    const room = roomOf(c);
    if (room instanceof Response) return room;
    const res = await opts.forward(room, forwarded(c, undefined));
    return new Response(res.body, res);
  };
  const guarded = guard(opts.config);
  app.post("/api/rooms/:room/messages", guarded, toRoomApi);
  app.delete("/api/rooms/:room/messages/:seq", guarded, toRoomApi);
  app.post("/api/rooms/:room/moderation", guarded, toRoomApi);
  app.get("/api/rooms/:room/entries", guarded, toRoomApi);
  return app;
}

/** Pick `parley.v2` when a client offers it (Sec-WebSocket-Protocol), else `parley.v1`, else none. */
export function selectProtocol(offer: string | null | undefined): string | undefined {
  const offered = offer?.split(",").map((p) => p.trim()) ?? [];
  if (offered.includes(SUBPROTOCOL_V2)) return SUBPROTOCOL_V2;
  return offered.includes(SUBPROTOCOL) ? SUBPROTOCOL : undefined;
}
