/**
 * Deno entry: the app on Deno.serve and Deno.upgradeWebSocket, with node:sqlite for history. Start it through
 * `npm run start:deno` (scripts/start-deno.mjs), which grants only the permissions it needs.
 */

import { DatabaseSync } from "node:sqlite";
import { getConnInfo } from "hono/deno";
import { defineWebSocketHelper, WSContext } from "hono/ws";
import { createApp, selectProtocol } from "../../app.ts";
import { boot, listeningLine } from "../../boot.ts";
import { ENV_NAMES } from "../../config.ts";
import { SUBPROTOCOL } from "../../protocol.ts";
import { socketConnection } from "../../session.ts";
import { statementDriver } from "../../store/statements.ts";

// Read variable by variable: Deno is granted these names only, and toObject() would need them all.
const env = Object.fromEntries(ENV_NAMES.map((name) => [name, Deno.env.get(name)]));
const parley = boot(env, (path) => statementDriver(new DatabaseSync(path)));
const { config, rooms } = parley;

// Our own upgrade on Deno.upgradeWebSocket instead of hono/deno's: hono/deno picks the first offered
// subprotocol (and has answered 500 for "foo, parley.v1"), and its socket handlers keep the request's
// Hono context and two parsed URLs for the socket's life, which Parley never reads (measured: under
// 0.3 KiB of RSS per idle connection). Deno.upgradeWebSocket has no payload limit (the room engine
// closes oversize frames with 1009), so only the idle timeout is passed.
const idleTimeout = Math.ceil(config.idleTimeoutMs / 1000);
const upgradeWebSocket = defineWebSocketHelper<WebSocket>((c, events) => {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") return;
  // Deno splits the offer on ", " exactly and throws (a 500) for a protocol it does not find there, so
  // an offer written "foo,parley.v1" (as the `ws` client writes it) gets no subprotocol. Browsers
  // write ", ". The request's headers are immutable, so this gap stays (docs/protocol.md, Deno).
  const offered = c.req.header("sec-websocket-protocol")?.split(", ") ?? [];
  const protocol = selectProtocol(offered.join(",")) && offered.includes(SUBPROTOCOL) ? SUBPROTOCOL : undefined;
  const { socket, response } = Deno.upgradeWebSocket(c.req.raw, { idleTimeout, protocol });
  const ws = new WSContext<WebSocket>({
    send: (data) => socket.send(data),
    close: (code, reason) => socket.close(code, reason),
    raw: socket,
    get readyState() {
      return socket.readyState as 0 | 1 | 2 | 3;
    },
    protocol: protocol ?? null,
  });
  socket.onopen = (e) => events.onOpen?.(e, ws);
  socket.onmessage = (e) => events.onMessage?.(e, ws);
  socket.onclose = (e) => events.onClose?.(e, ws);
  socket.onerror = (e) => events.onError?.(e, ws);
  return response;
});

const connection = (ws: WSContext) => {
  const raw = ws.raw as WebSocket;
  return socketConnection(raw, {
    send: (frame) => raw.send(frame),
    close: (code, reason) => raw.close(code, reason),
    bufferedAmount: () => raw.bufferedAmount,
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

const server = Deno.serve(
  {
    port: config.port,
    hostname: config.host,
    onListen: ({ port }) => console.log(listeningLine("deno", config.host, port)),
  },
  app.fetch,
);

async function stop() {
  await parley.shutdown();
  await server.shutdown();
  Deno.exit(0);
}
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);
