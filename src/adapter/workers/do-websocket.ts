/**
 * A hibernation-aware `upgradeWebSocket` for Durable Objects.
 *
 * Hono's cloudflare-workers helper calls `server.accept()`, which pins the object in memory for as long
 * as a socket is open, and it never fires `onOpen`. This one hands the socket to the runtime with
 * `ctx.acceptWebSocket()` instead, so an object with only idle sockets can be evicted ("hibernate") and
 * its sockets stay connected. The runtime then delivers socket events to the object's
 * `webSocketMessage` / `webSocketClose` / `webSocketError` methods, which `dispatch` turns back into the
 * same Hono `WSEvents` that run on Node, Deno and Bun. (Upstream: hono issue #4506, PR #4879.)
 */
import type { Context } from "hono";
import { defineWebSocketHelper, type UpgradeWebSocket, WSContext, type WSEvents } from "hono/ws";

export interface DurableWebSocketOptions {
  /** Tags for `ctx.getWebSockets(tag)`; they outlive hibernation. */
  tags?: (c: Context) => string[];
  /** The subprotocol to select for this request, if any. */
  protocol?: (c: Context) => string | undefined;
  /**
   * Events for a socket whose upgrade closure is gone: after an eviction the object is rebuilt and only the
   * sockets (with their attachments) remain. These handlers must work from the socket alone.
   */
  rehydrate: () => WSEvents<WebSocket>;
}

/** Hono's `WSContext` over a Durable Object's server-side socket. */
export function durableContext(ws: WebSocket): WSContext<WebSocket> {
  return new WSContext<WebSocket>({
    send: (data) => ws.send(data),
    close: (code, reason) => ws.close(code, reason),
    raw: ws,
    get readyState() {
      return ws.readyState as 0 | 1 | 2 | 3;
    },
    protocol: ws.protocol,
    url: ws.url,
  });
}

/** An `upgradeWebSocket` for one Durable Object, and the dispatchers for its `webSocket*` methods. */
export function durableWebSocket(ctx: DurableObjectState, options: DurableWebSocketOptions) {
  // Events for the sockets accepted since this instance started; a woken instance starts empty.
  const live = new Map<WebSocket, WSEvents<WebSocket>>();
  let woken: WSEvents<WebSocket> | undefined;
  const eventsOf = (ws: WebSocket) => {
    const events = live.get(ws) ?? woken ?? options.rehydrate();
    if (!live.has(ws)) woken = events;
    return events;
  };

  const upgradeWebSocket = defineWebSocketHelper<WebSocket>((c, events) => {
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") return;
    const [client, server] = Object.values(new WebSocketPair());
    // acceptWebSocket, never accept(): the runtime owns the socket, so the object may hibernate.
    ctx.acceptWebSocket(server, options.tags?.(c) ?? []);
    live.set(server, events);
    // Frames sent now are queued until the client has the 101 response.
    events.onOpen?.(new Event("open"), durableContext(server));
    const protocol = options.protocol?.(c);
    return new Response(null, {
      status: 101,
      webSocket: client,
      headers: protocol ? { "Sec-WebSocket-Protocol": protocol } : {},
    });
  }) as UpgradeWebSocket<WebSocket>;

  const dispatch = {
    webSocketMessage(ws: WebSocket, message: string | ArrayBuffer) {
      eventsOf(ws).onMessage?.(new MessageEvent("message", { data: message }), durableContext(ws));
    },
    webSocketClose(ws: WebSocket, code: number, reason: string, wasClean: boolean) {
      // Complete the closing handshake. Newer compatibility dates reply on their own (and ignore this),
      // but wrangler dev's proxy in front of the object does not, and the client would wait for ever.
      // A code a peer may not send (RFC 6455 §7.4: only 1000–1003, 1007–1014 and 3000–4999) is a protocol
      // error, answered 1002 as Node, Deno and Bun do. Echoing it made close() throw for some (0, 999, 1004,
      // 1015, 65535), so the client got no Close at all and waited for the proxy to drop it.
      const sendable =
        (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
      try {
        if (code === 1005 || code === 1006) ws.close(1000, reason);
        else if (sendable) ws.close(code, reason);
        else ws.close(1002, "invalid close code");
      } catch {
        // Already closed.
      }
      eventsOf(ws).onClose?.(new CloseEvent("close", { code, reason, wasClean }), durableContext(ws));
      live.delete(ws);
    },
    webSocketError(ws: WebSocket, error: unknown) {
      eventsOf(ws).onError?.(new ErrorEvent("error", { error }), durableContext(ws));
      live.delete(ws);
    },
  };
  return { upgradeWebSocket, dispatch };
}
