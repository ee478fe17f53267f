/**
 * A minimal hibernating Durable Object per room under `wrangler dev`: the floor Parley-on-Workers is
 * measured against. acceptWebSocket (never accept(), so it may hibernate, as Parley's ChatRoom), the
 * sender's identity as the socket's attachment, and a broadcast over ctx.getWebSockets(). No store:
 * `seq` lives in memory and restarts if the object is evicted, which a benchmark run never waits for.
 */

// The few Workers APIs used, typed here: the project's tsconfig checks bench/ with Node's types, and
// @cloudflare/workers-types would clash with them.
interface HibernatingSocket {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  serializeAttachment(value: unknown): void;
  deserializeAttachment(): unknown;
}
interface State {
  acceptWebSocket(ws: HibernatingSocket): void;
  getWebSockets(): HibernatingSocket[];
}
interface Namespace {
  idFromName(name: string): unknown;
  get(id: unknown): { fetch(request: Request): Promise<Response> };
}
type User = { id: string; name: string };

const { WebSocketPair } = globalThis as unknown as {
  WebSocketPair: new () => { 0: HibernatingSocket; 1: HibernatingSocket };
};
const ROOM_PATH = /^\/rooms\/([A-Za-z0-9_-]{1,64})\/ws$/;

/** One room: every socket of it is accepted here and gets every message. */
export class Room {
  private seq = 0;
  private nextId = 0;

  constructor(private readonly ctx: State) {}

  fetch(request: Request): Response {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket")
      return new Response("upgrade required", { status: 426 });
    const pair = new WebSocketPair();
    const user: User = { id: String(++this.nextId), name: `u${this.nextId}` };
    this.ctx.acceptWebSocket(pair[1]);
    pair[1].serializeAttachment(user);
    // Queued until the client has the 101, as in Parley's ChatRoom.
    pair[1].send('{"type":"welcome"}');
    return new Response(null, { status: 101, webSocket: pair[0] } as ResponseInit);
  }

  webSocketMessage(ws: HibernatingSocket, message: string | ArrayBuffer): void {
    const frame = JSON.parse(String(message)) as { type?: string; text?: string; ref?: string };
    if (frame.type !== "say" || typeof frame.text !== "string") return;
    const from = ws.deserializeAttachment() as User;
    const out = JSON.stringify({
      type: "message",
      seq: ++this.seq,
      ts: Date.now(),
      from,
      text: frame.text,
      ref: frame.ref,
    });
    for (const member of this.ctx.getWebSockets()) member.send(out);
  }

  webSocketClose(ws: HibernatingSocket, code: number, reason: string): void {
    // wrangler dev's proxy does not answer the client's Close frame itself (as in Parley's ChatRoom).
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
    } catch {
      // Already closed.
    }
  }
}

export default {
  fetch(request: Request, env: { ROOMS: Namespace }): Promise<Response> | Response {
    const room = ROOM_PATH.exec(new URL(request.url).pathname)?.[1];
    if (!room) return new Response("not found", { status: 404 });
    return env.ROOMS.get(env.ROOMS.idFromName(room)).fetch(request);
  },
};
