/**
 * Node entry: @hono/node-server v2 with its built-in upgradeWebSocket, over a `ws` server we configure
 * (maxPayload, no compression, our subprotocol choice). @hono/node-ws is deprecated in its favour.
 */
import { serve, upgradeWebSocket } from "@hono/node-server";
import { getConnInfo } from "@hono/node-server/conninfo";
import type { WSContext } from "hono/ws";
import { WebSocket, WebSocketServer } from "ws";
import { createApp, selectProtocol } from "../../app.ts";
import { boot, listeningLine } from "../../boot.ts";
import { socketConnection } from "../../session.ts";
import { openSqlite } from "./sqlite.ts";
import { sendText, waitingBytes } from "./writer.ts";

const parley = boot(process.env, openSqlite);
const { config, rooms } = parley;

const wss = new WebSocketServer({
  noServer: true,
  maxPayload: config.maxFrameBytes, // ws closes an oversize frame with 1009 while reading it
  perMessageDeflate: false,
  handleProtocols: (offered) => selectProtocol([...offered].join(",")) ?? false,
});

const connection = (ws: WSContext) => {
  const raw = ws.raw as WebSocket;
  return socketConnection(raw, {
    send: (frame) => sendText(raw, frame),
    close: (code, reason) => raw.close(code, reason),
    bufferedAmount: () => waitingBytes(raw),
    isOpen: () => raw.readyState === WebSocket.OPEN,
  });
};

const app = createApp({
  upgradeWebSocket,
  host: rooms,
  config,
  connection,
  clientAddress: (c) => getConnInfo(c).remote.address ?? "unknown",
});

// Idle timeout: anything received (a frame or a pong) counts as life. Ping at half the timeout so a
// live client answers in time; terminate one that stayed silent for the whole timeout.
const lastSeen = new WeakMap<WebSocket, number>();
wss.on("connection", (ws: WebSocket) => {
  const seen = () => lastSeen.set(ws, Date.now());
  seen();
  ws.on("message", seen);
  ws.on("pong", seen);
});
const idle = setInterval(
  () => {
    const now = Date.now();
    for (const ws of wss.clients) {
      const silent = now - (lastSeen.get(ws) ?? now);
      if (silent >= config.idleTimeoutMs) ws.terminate();
      else if (silent >= config.idleTimeoutMs / 2) ws.ping();
    }
  },
  Math.min(5000, config.idleTimeoutMs / 4),
);

const server = serve(
  { fetch: app.fetch, port: config.port, hostname: config.host, websocket: { server: wss } },
  (info) => console.log(listeningLine("node", config.host, info.port)),
);

async function stop() {
  clearInterval(idle);
  server.close();
  await parley.shutdown();
  for (const ws of wss.clients) ws.terminate();
  process.exit(0);
}
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
