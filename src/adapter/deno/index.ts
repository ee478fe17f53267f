/**
 * Deno entry: the app on Deno.serve and Deno.upgradeWebSocket, with node:sqlite for history. Start it
 * through `npm run start:deno` (scripts/start-deno.ts), which grants only the permissions it needs.
 */

import { DatabaseSync } from "node:sqlite";
import { getConnInfo } from "hono/deno";
import { defineWebSocketHelper, WSContext } from "hono/ws";
import { selectProtocol } from "../../app.ts";
import { ENV_NAMES } from "../../config.ts";
import { serveProcess } from "../../process-host.ts";
import { SUBPROTOCOL } from "../../protocol/index.ts";
import { statementDriver } from "../../store/statements.ts";

serveProcess<WebSocket>({
  name: "deno",
  // Read variable by variable: Deno is granted these names only, and toObject() would need them all.
  env: Object.fromEntries(ENV_NAMES.map((name) => [name, Deno.env.get(name)])),
  openSqlite: (path) => statementDriver(new DatabaseSync(path)),
  create(config) {
    // Deno's own idleTimeout closes a silent peer with 1001, so no ping or terminate here and no sweep.
    const idleTimeout = Math.ceil(config.idleTimeoutMs / 1000);
    // Our own upgrade on Deno.upgradeWebSocket instead of hono/deno's: hono/deno picks the first offered
    // subprotocol (and has answered 500 for "foo, parley.v1"), and its socket handlers keep the request's
    // Hono context and two parsed URLs for the socket's life, which Parley never reads (measured: under
    // 0.3 KiB of RSS per idle connection). Deno.upgradeWebSocket has no payload limit (the room engine
    // closes oversize frames with 1009), so only the idle timeout is passed.
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
    return {
      upgradeWebSocket,
      socketOf: (ws) => ws.raw as WebSocket,
      ops: {
        send: (ws, frame) => ws.send(frame),
        close: (ws, code, reason) => ws.close(code, reason),
        bufferedAmount: (ws) => ws.bufferedAmount,
        isOpen: (ws) => ws.readyState === WebSocket.OPEN,
      },
      clientAddress: (c) => getConnInfo(c).remote.address ?? "unknown",
      listen(fetch, onListen) {
        const server = Deno.serve(
          { port: config.port, hostname: config.listenAddress, onListen: ({ port }) => onListen(port) },
          fetch,
        );
        return { close: () => server.shutdown() };
      },
    };
  },
  onSignal(stop) {
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener("SIGTERM", stop);
  },
  exit: (code) => Deno.exit(code),
});
