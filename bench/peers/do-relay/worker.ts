/**
 * The lowest floor for Parley-on-Workers: a hibernating Durable Object per room under `wrangler dev` that
 * sends each incoming frame on to every socket of the room exactly as it came in. No JSON.parse, no
 * attachment read, no new JSON, no `seq`: what is left is the platform's own cost of a hibernating
 * object's fan-out. bench/peers/do/ is the other floor, which parses and serializes as a chat server must.
 * The load client sends this peer the `message` frame it counts (the `relay` dialect in bench/load.ts).
 */

// The few Workers APIs used, typed here: the project's tsconfig checks bench/ with Node's types, and
// @cloudflare/workers-types would clash with them.
interface HibernatingSocket {
  send(data: string | ArrayBuffer): void;
  close(code?: number, reason?: string): void;
}
interface State {
  acceptWebSocket(ws: HibernatingSocket): void;
  getWebSockets(): HibernatingSocket[];
}
interface Namespace {
  idFromName(name: string): unknown;
  get(id: unknown): { fetch(request: Request): Promise<Response> };
}

const { WebSocketPair } = globalThis as unknown as {
  WebSocketPair: new () => { 0: HibernatingSocket; 1: HibernatingSocket };
};
const ROOM_PATH = /^\/rooms\/([A-Za-z0-9_-]{1,64})\/ws$/;

/** One room: every socket of it is accepted here and gets every frame any of them sends. */
export class Room {
  constructor(private readonly ctx: State) {}

  fetch(request: Request): Response {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket")
      return new Response("upgrade required", { status: 426 });
    const pair = new WebSocketPair();
    // acceptWebSocket, never accept(), so that it may hibernate as Parley's ChatRoom and the other DO do.
    this.ctx.acceptWebSocket(pair[1]);
    // The bench dialect's one extra frame: clients wait for it before they count as in the room.
    pair[1].send('{"type":"welcome"}');
    return new Response(null, { status: 101, webSocket: pair[0] } as ResponseInit);
  }

  webSocketMessage(_ws: HibernatingSocket, message: string | ArrayBuffer): void {
    for (const member of this.ctx.getWebSockets()) member.send(message);
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
