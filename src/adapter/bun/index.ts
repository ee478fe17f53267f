/**
 * Bun entry: hono/bun's socket handlers on Bun.serve, with bun:sqlite for history. Bun ignores `ws`
 * options; its own `maxPayloadLength` refuses an oversize frame with 1009 while reading it.
 */
import { Database } from "bun:sqlite";
import type { ServerWebSocket } from "bun";
import { getConnInfo, websocket } from "hono/bun";
import { defineWebSocketHelper, type WSContext, type WSEvents } from "hono/ws";
import { createApp, selectProtocol } from "../../app.ts";
import { boot, listeningLine } from "../../boot.ts";
import { socketConnection } from "../../session.ts";
import { statementDriver } from "../../store/statements.ts";

// A room's broadcast to all is one native publish to its topic; Room closes slow readers after it.
const parley = boot(process.env, (path) => statementDriver(new Database(path, { create: true })), {
  publish: (topic, frame) => void server.publish(topic, frame),
});
const { config, rooms } = parley;

// No `url`: hono/bun's WSContext parses it into a new URL for every event (every message), and Parley
// never reads it.
type SocketData = { events: WSEvents; url: URL; protocol: string };

// hono/bun's own upgrade lets Bun echo the first offered subprotocol. This one selects `parley.v1` or
// none, and hands hono/bun's `websocket` handlers the data they expect.
const upgradeWebSocket = defineWebSocketHelper((c, events) => {
  const protocol = selectProtocol(c.req.header("sec-websocket-protocol")) ?? "";
  const data: SocketData = { events, url: null as unknown as URL, protocol };
  // An empty header makes Bun send none, instead of echoing the client's first offer.
  const headers = { "Sec-WebSocket-Protocol": protocol };
  if (server.upgrade(c.req.raw, { data, headers })) return new Response(null);
});

const connection = (ws: WSContext) => {
  const raw = ws.raw as ServerWebSocket<SocketData>;
  // Bun makes a new WSContext for every event but keeps one `data` object per socket: the record's key.
  return socketConnection(raw.data, {
    send: (frame) => void raw.send(frame),
    close: (code, reason) => raw.close(code, reason),
    bufferedAmount: () => raw.getBufferedAmount(),
    isOpen: () => raw.readyState === 1,
    subscribe: (topic) => raw.subscribe(topic),
  });
};

const app = createApp({
  upgradeWebSocket,
  host: rooms,
  config,
  connection,
  clientAddress: (c) => getConnInfo(c).remote.address ?? "unknown",
});

// Bun's idleTimeout counts sends as life too (uWS's resetIdleTimeoutOnSend, which Bun does not expose),
// so a client that answers nothing but sits in a busy room was never closed, and never pinged (found by
// tests/reliability/limits.ts). As on Node, only what the client sends counts: ping at half the
// timeout, drop after the whole of it. The timeout is the one Bun applies itself (whole seconds, 8 at
// the least), so a quiet room behaves as before.
const idleMs = Math.max(8, Math.min(960, Math.ceil(config.idleTimeoutMs / 1000))) * 1000;
const heard = new Map<ServerWebSocket<SocketData>, number>();
const idle = setInterval(
  () => {
    const now = Date.now();
    for (const [ws, at] of heard) {
      if (now - at >= idleMs) ws.terminate();
      else if (now - at >= idleMs / 2) ws.ping();
    }
  },
  Math.min(5000, idleMs / 4),
);

const server = Bun.serve({
  port: config.port,
  hostname: config.host,
  fetch: app.fetch,
  websocket: {
    ...websocket,
    open(ws: ServerWebSocket<SocketData>) {
      heard.set(ws, Date.now());
      websocket.open(ws);
    },
    message(ws: ServerWebSocket<SocketData>, message: string | Buffer) {
      heard.set(ws, Date.now());
      websocket.message(ws, message);
    },
    pong(ws: ServerWebSocket<SocketData>) {
      heard.set(ws, Date.now());
    },
    close(ws: ServerWebSocket<SocketData>, code: number, reason: string) {
      heard.delete(ws);
      websocket.close(ws, code, reason);
    },
    maxPayloadLength: config.maxFrameBytes,
    perMessageDeflate: false,
    // Bun rounds 1–7 s up to 8 s, and pings shortly before the timeout.
    idleTimeout: Math.min(960, Math.ceil(config.idleTimeoutMs / 1000)),
    sendPings: true,
    // Past this, Bun's publish would drop frames silently; the room closes a slow reader with 1013 once
    // it is past half of it, and closeOnBackpressureLimit is the backstop.
    backpressureLimit: config.maxQueueBytes * 2,
    closeOnBackpressureLimit: true,
  },
});
console.log(listeningLine("bun", config.host, server.port ?? config.port));

async function stop() {
  clearInterval(idle);
  await parley.shutdown();
  await server.stop(true);
  process.exit(0);
}
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
