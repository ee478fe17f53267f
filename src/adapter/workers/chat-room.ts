/**
 * One chat room as a Durable Object: the same app, room engine and store as Node, Deno and Bun, with
 * the room's SQLite storage behind the store and each socket's session record as its attachment.
 *
 * The object sets no timers but a zero-delay one while says wait for their group commit: a pending
 * timer keeps an object awake, and an idle room should cost nothing. Keep-alive pings are answered by
 * the platform without waking it (auto-response).
 */
import { DurableObject } from "cloudflare:workers";
import type { WSContext } from "hono/ws";
import { createApp, identityFromEdge, selectProtocol, socketEvents } from "../../app.ts";
import { loadConfig } from "../../config.ts";
import { addressGroup } from "../../limits.ts";
import { log } from "../../log.ts";
import { Rooms } from "../../rooms.ts";
import { type Connection, closedByServer, DURABLE_FIELDS, type SessionRecord } from "../../session.ts";
import { type SqlDriver, SqlStore } from "../../store/store.ts";
import { Deliverer } from "../../webhooks.ts";
import { durableWebSocket } from "./do-websocket.ts";
import { type AnalyticsDataset, workersTelemetry } from "./telemetry.ts";
import { varsOf } from "./vars.ts";

const groupTag = (group: string) => `ip:${group}`;

/** The store's driver over a Durable Object's SQLite (`ctx.storage.sql`), synchronous like the others. */
function durableSql(storage: DurableObjectStorage): SqlDriver {
  return {
    exec: (sql) => void storage.sql.exec(sql),
    run: (sql, ...params) => void storage.sql.exec(sql, ...params),
    all: <T>(sql: string, ...params: (string | number | null)[]) => storage.sql.exec(sql, ...params).toArray() as T[],
    transaction: (fn) => storage.transactionSync(fn),
    // The platform owns the database's life.
    close: () => {},
  };
}

// The record is the socket's attachment, so it survives hibernation. Reading it back deserializes, so
// keep the copy of this instance's life beside it.
const records = new WeakMap<WebSocket, SessionRecord>();
// The durable fields (src/session.ts, RECORD_FIELDS) as the attachment last held them: the attachment
// is written again only when one of them changed.
const attached = new WeakMap<WebSocket, SessionRecord[keyof SessionRecord][]>();

const durableChanged = (record: SessionRecord, last: SessionRecord[keyof SessionRecord][] | undefined) =>
  !last || DURABLE_FIELDS.some((field, i) => record[field] !== last[i]);

// Sockets this object closed, so that their close event is not counted as the client's (lost with a
// hibernation, when such a close is counted twice: once by the server, once as the client's).
const closedHere = new WeakSet<WebSocket>();

function durableConnection(raw: WebSocket): Connection {
  return {
    send: (frame) => raw.readyState === WebSocket.OPEN && raw.send(frame),
    close(code, reason) {
      if (raw.readyState !== WebSocket.OPEN) return;
      closedHere.add(raw);
      closedByServer(this.load(), code, reason);
      raw.close(code, reason);
    },
    closedByServer: () => closedHere.has(raw),
    // A Durable Object's sockets expose no queue; the runtime owns it (docs/protocol.md, Workers).
    bufferedAmount: () => 0,
    load() {
      let record = records.get(raw);
      if (!record) {
        record = (raw.deserializeAttachment() as SessionRecord | null) ?? undefined;
        if (record) records.set(raw, record);
      }
      return record;
    },
    save(record) {
      records.set(raw, record);
      if (!durableChanged(record, attached.get(raw))) return;
      raw.serializeAttachment(record);
      attached.set(
        raw,
        DURABLE_FIELDS.map((field) => record[field]),
      );
    },
  };
}

const connection = (ws: WSContext) => durableConnection(ws.raw as WebSocket);

/** The Durable Object class behind every room on Workers. */
export class ChatRoom extends DurableObject {
  private readonly app;
  private readonly dispatch;
  private readonly rooms: Rooms;
  private readonly store: SqlStore;
  private readonly guestTtlMs: number;
  private readonly deliverer: Deliverer | undefined;
  /** When the next try of a failed webhook delivery is due (this instance's life; 0: none). */
  private retryAt = 0;

  constructor(ctx: DurableObjectState, env: object) {
    super(ctx, env);
    // On Workers the address is always Cloudflare's; no proxy header is trusted.
    const config = { ...loadConfig(varsOf(env)), trustProxy: 0 };
    workersTelemetry(config, (env as { PARLEY_ANALYTICS?: AnalyticsDataset }).PARLEY_ANALYTICS);
    // The object's id makes its epochs its own without a write: naming a room stores nothing.
    const store = new SqlStore(durableSql(ctx.storage), { salt: ctx.id.toString() });
    const rooms = new Rooms(store, config, {
      connectionsFrom: (group) => ctx.getWebSockets(groupTag(group)).length,
      // The alarm forgets guests and delivers webhooks: unlike a timer, it does not keep the object
      // from hibernating.
      guestAway: (at) => void this.wakeAt(at + config.guestTtlMs),
      // After a failed delivery the next try waits its backoff: a commit does not bring it forward.
      committed: config.webhook ? () => void this.wakeAt(Math.max(Date.now(), this.retryAt)) : undefined,
      // Each event's writes would commit on their own (a write to disk per message, most of a message's
      // cost under wrangler dev); a zero-delay timer lets the says of the events waiting behind this one
      // in, so they commit together. The output gate still holds every send until its commit is durable.
      defer: (fn) => void setTimeout(fn, 0),
      // A big room's presence frame: the timer holds the object awake for at most PARLEY_PRESENCE_MS,
      // and only while joins and leaves are coming, when its sockets keep it awake anyway.
      later: (fn, ms) => void setTimeout(fn, ms),
    });
    const { upgradeWebSocket, dispatch } = durableWebSocket(ctx, {
      // The Worker refused a request without CF-Connecting-IP before it reached the object.
      tags: (c) => [groupTag(addressGroup(c.req.header("cf-connecting-ip") ?? ""))],
      protocol: (c) => selectProtocol(c.req.header("sec-websocket-protocol")),
      rehydrate: () => socketEvents(rooms, connection),
    });
    this.dispatch = dispatch;
    this.app = createApp({
      upgradeWebSocket,
      rooms,
      config,
      connection,
      clientAddress: (c) => c.req.header("cf-connecting-ip") ?? "",
      // The Worker took the connection attempt before it woke this object, and a Durable Object has no
      // listen address: the Host is checked (when PARLEY_ALLOWED_HOSTS is set) in the Worker.
      connectRate: () => 0,
      loopback: false,
      // The Worker verified the access token before it woke this object, and passes the identity on.
      access: identityFromEdge,
    });
    this.rooms = rooms;
    this.store = store;
    this.guestTtlMs = config.guestTtlMs;
    this.deliverer = config.webhook && new Deliverer(store, config.webhook);
    // A woken object rebuilds its members from the sockets the platform kept, without running onOpen.
    const kept = ctx.getWebSockets();
    for (const ws of kept) rooms.restore(durableConnection(ws));
    // One line per wake-up, so an operator (and the eviction test) can see hibernation happen.
    if (kept.length > 0) log.info("woke_from_hibernation", { count: kept.length });
    // The exact frame {"type":"ping"} is answered by the platform without waking the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair('{"type":"ping"}', '{"type":"pong"}'));
  }

  /** Make sure the alarm fires by `at` (an earlier one already set stays). */
  private async wakeAt(at: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }

  /**
   * Forget the guests whose TTL ran out and deliver the webhook outbox, then set the alarm for what
   * comes next: the next guest's TTL, or the next try of a delivery that failed.
   */
  async alarm(): Promise<void> {
    this.rooms.forgetGuests(Date.now());
    const times: number[] = [];
    const guest = this.store.nextGuestAway();
    if (guest !== undefined) times.push(guest + this.guestTtlMs);
    if (this.deliverer) {
      this.retryAt = 0;
      for (const room of this.store.roomsUndelivered()) {
        const retry = await this.deliverer.drain(room);
        if (retry !== undefined) {
          this.retryAt = Date.now() + retry;
          times.push(this.retryAt);
        }
        // Entries committed while this delivery was out wait for the next alarm.
        else if (this.store.undelivered(room, 1).length > 0) times.push(Date.now());
      }
    }
    if (times.length > 0) await this.ctx.storage.setAlarm(Math.min(...times));
  }

  fetch(request: Request): Response | Promise<Response> {
    return this.app.fetch(request, this.env);
  }

  webSocketMessage(ws: WebSocket, message: string | ArrayBuffer) {
    this.dispatch.webSocketMessage(ws, message);
  }

  webSocketClose(ws: WebSocket, code: number, reason: string, wasClean: boolean) {
    this.dispatch.webSocketClose(ws, code, reason, wasClean);
  }

  webSocketError(ws: WebSocket, error: unknown) {
    this.dispatch.webSocketError(ws, error);
  }
}
