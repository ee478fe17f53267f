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

const parley = boot(process.env, (path) => statementDriver(new Database(path, { create: true })));
const { config, rooms } = parley;

type SocketData = { events: WSEvents; url: URL; protocol: string };

// hono/bun's own upgrade lets Bun echo the first offered subprotocol. This one selects `parley.v1` or
// none, and hands hono/bun's `websocket` handlers the data they expect.
const upgradeWebSocket = defineWebSocketHelper((c, events) => {
  const protocol = selectProtocol(c.req.header("sec-websocket-protocol")) ?? "";
  const data: SocketData = { events, url: new URL(c.req.url), protocol };
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
  });
};

const app = createApp({
  upgradeWebSocket,
  host: rooms,
  config,
  connection,
  clientAddress: (c) => getConnInfo(c).remote.address ?? "unknown",
});

const server = Bun.serve({
  port: config.port,
  hostname: config.host,
  fetch: app.fetch,
  websocket: {
    ...websocket,
    maxPayloadLength: config.maxFrameBytes,
    perMessageDeflate: false,
    // Bun rounds 1–7 s up to 8 s, and pings shortly before the timeout.
    idleTimeout: Math.min(960, Math.ceil(config.idleTimeoutMs / 1000)),
    sendPings: true,
    // Past this, Bun would drop frames silently; the room closes a slow reader with 1013 well before.
    backpressureLimit: config.maxQueueBytes * 2,
    closeOnBackpressureLimit: true,
  },
});
console.log(listeningLine("bun", config.host, server.port ?? config.port));

async function stop() {
  await parley.shutdown();
  await server.stop(true);
  process.exit(0);
}
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
