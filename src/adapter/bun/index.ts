/**
 * Bun entry: hono/bun's socket handlers on Bun.serve, with bun:sqlite for history. Bun ignores `ws`
 * options; its own `maxPayloadLength` refuses an oversize frame with 1009 while reading it.
 */
import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { Server, ServerWebSocket } from "bun";
import { getConnInfo, websocket } from "hono/bun";
import { defineWebSocketHelper, type WSEvents } from "hono/ws";
import { selectProtocol } from "../../app.ts";
import { serveProcess } from "../../process-host.ts";
import { statementDriver } from "../../store/statements.ts";

/**
 * What Bun keeps for each socket: one object for the socket's life (hono/bun makes a new WSContext for
 * every event), so it keys the connection. No `url`: hono/bun's WSContext would parse it into a new URL
 * for every event, and Parley never reads it.
 */
type SocketData = {
  events: WSEvents;
  url: URL;
  protocol: string;
  socket?: ServerWebSocket<SocketData>;
  closing?: boolean;
};
type Socket = ServerWebSocket<SocketData>;

let server: Server<SocketData> | undefined;
// Bun's idle timeout is whole seconds, 8 at the least; Parley's sweep uses the one Bun would apply.
const bunIdleSeconds = (ms: number) => Math.min(960, Math.ceil(ms / 1000));

serveProcess<SocketData>({
  name: "bun",
  env: process.env,
  openSqlite(path, deferCommits) {
    // As on Node: the default ./data/parley.db works in a fresh checkout, where data/ does not exist yet.
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    return statementDriver(new Database(path, { create: true }), deferCommits);
  },
  // A room's broadcast to all is one native publish to its topic; Room closes slow readers after it.
  publish: (topic, frame) => void server?.publish(topic, frame),
  idleTimeoutMs: (config) => Math.max(8, bunIdleSeconds(config.idleTimeoutMs)) * 1000,
  create(config, idle) {
    // hono/bun's own upgrade lets Bun echo the first offered subprotocol. This one selects `parley.v1`
    // or none, and hands hono/bun's `websocket` handlers the data they expect.
    const upgradeWebSocket = defineWebSocketHelper((c, events) => {
      const protocol = selectProtocol(c.req.header("sec-websocket-protocol")) ?? "";
      const data: SocketData = { events, url: null as unknown as URL, protocol };
      // An empty header makes Bun send none, instead of echoing the client's first offer.
      const headers = { "Sec-WebSocket-Protocol": protocol };
      if (server?.upgrade(c.req.raw, { data, headers })) return new Response(null);
    });
    const socket = (d: SocketData) => d.socket as Socket;
    return {
      upgradeWebSocket,
      socketOf: (ws) => (ws.raw as Socket).data,
      ops: {
        send: (d, frame) => void socket(d).send(frame),
        // Bun runs the close handler, and so the room's leave and its `left`, inside close(). Deferred to
        // the end of this turn, that `left` cannot come between a sender's `message` and its `ack`, which
        // the room is sending when it closes a slow reader; meanwhile the socket counts as closed.
        close: (d, code, reason) => {
          d.closing = true;
          queueMicrotask(() => socket(d).close(code, reason));
        },
        bufferedAmount: (d) => socket(d).getBufferedAmount(),
        isOpen: (d) => !d.closing && d.socket?.readyState === 1,
        subscribe: (d, topic) => socket(d).subscribe(topic),
        ping: (d) => socket(d).ping(),
        terminate: (d) => socket(d).terminate(),
      },
      clientAddress: (c) => getConnInfo(c).remote.address ?? "unknown",
      listen(fetch, onListen) {
        server = Bun.serve({
          port: config.port,
          hostname: config.listenAddress,
          fetch,
          websocket: {
            ...websocket,
            open(ws: Socket) {
              ws.data.socket = ws;
              idle.heard(ws.data);
              websocket.open(ws);
            },
            message(ws: Socket, message: string | Buffer) {
              idle.heard(ws.data);
              websocket.message(ws, message);
            },
            pong: (ws: Socket) => idle.heard(ws.data),
            close(ws: Socket, code: number, reason: string) {
              idle.gone(ws.data);
              websocket.close(ws, code, reason);
            },
            maxPayloadLength: config.maxFrameBytes,
            perMessageDeflate: false,
            // Bun rounds 1–7 s up to 8 s, and pings shortly before the timeout. Its idle timeout counts
            // sends as life too (uWS's resetIdleTimeoutOnSend, which Bun does not expose), so a client that
            // answers nothing but sits in a busy room would never be closed: Parley's sweep covers that.
            idleTimeout: bunIdleSeconds(config.idleTimeoutMs),
            sendPings: true,
            // Past this, Bun's publish would drop frames silently, and closeOnBackpressureLimit closes with
            // 1006. The room closes a slow reader with 1013 once it is past a quarter of it: the frames a
            // turn publishes before the close (taken at the end of the turn) must fit in the rest.
            backpressureLimit: config.maxQueueBytes * 4,
            closeOnBackpressureLimit: true,
          },
        });
        onListen(server.port ?? config.port);
        return { close: () => server?.stop(true) };
      },
    };
  },
  onSignal(stop) {
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  },
  exit: (code) => process.exit(code),
});
