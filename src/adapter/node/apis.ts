/**
 * A process server on Node's APIs, all but its name and environment: @hono/node-server v2 with its
 * built-in upgradeWebSocket, over a `ws` server we configure (maxPayload, no compression, our subprotocol
 * choice), the writer, Parley's idle sweep, SQLite and the signals. Node runs it, and so does Deno through
 * its Node compatibility (src/adapter/deno/index.ts says why). @hono/node-ws is deprecated in its favour.
 */
import { serve, upgradeWebSocket } from "@hono/node-server";
import { getConnInfo } from "@hono/node-server/conninfo";
import { WebSocket, WebSocketServer } from "ws";
import { selectProtocol } from "../../app.ts";
import type { Config } from "../../config.ts";
import type { IdleTracker, ProcessAdapter, ProcessRuntime } from "../../process-host.ts";
import { openSqlite } from "./sqlite.ts";
import { sendText, waitingBytes } from "./writer.ts";

/** The server, its upgrade and its socket calls, for the process host. */
function wsRuntime(config: Config, idle: IdleTracker<WebSocket>): ProcessRuntime<WebSocket> {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: config.maxFrameBytes, // ws closes an oversize frame with 1009 once its header is read
    perMessageDeflate: false,
    handleProtocols: (offered) => selectProtocol([...offered].join(",")) ?? false,
  });
  // ws answers pings itself and sends none: only Parley's idle sweep closes a silent socket.
  wss.on("connection", (ws: WebSocket) => {
    const heard = () => idle.heard(ws);
    heard();
    ws.on("message", heard);
    ws.on("pong", heard);
    ws.on("close", () => idle.gone(ws));
  });
  return {
    upgradeWebSocket,
    socketOf: (ws) => ws.raw as WebSocket,
    ops: {
      send: sendText,
      close: (ws, code, reason) => ws.close(code, reason),
      bufferedAmount: waitingBytes,
      isOpen: (ws) => ws.readyState === WebSocket.OPEN,
      ping: (ws) => ws.ping(),
      terminate: (ws) => ws.terminate(),
    },
    clientAddress: (c) => getConnInfo(c).remote.address ?? "unknown",
    listen(fetch, onListen) {
      const server = serve(
        { fetch, port: config.port, hostname: config.listenAddress, websocket: { server: wss } },
        (info) => onListen(info.port),
      );
      return {
        close() {
          server.close();
          for (const ws of wss.clients) ws.terminate();
        },
      };
    },
  };
}

/** What a process adapter on Node's APIs gives the host besides its name and environment. */
export const nodeApis: Omit<ProcessAdapter<WebSocket>, "name" | "env"> = {
  openSqlite,
  create: wsRuntime,
  onSignal(stop) {
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  },
  exit: (code) => process.exit(code),
};
