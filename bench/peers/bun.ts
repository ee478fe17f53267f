/**
 * Raw Bun.serve with native pub/sub: the floor Parley-on-Bun is measured against. One
 * `server.publish` per message, which reaches every subscriber, the sender included.
 */
import type { ServerWebSocket } from "bun";

type Data = { room: string; from: { id: string; name: string } };
const ROOM_PATH = /^\/rooms\/([A-Za-z0-9_-]{1,64})\/ws$/;
const seqs = new Map<string, number>();
let nextId = 0;

const server = Bun.serve<Data>({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT ?? 0),
  fetch(req, srv) {
    const room = ROOM_PATH.exec(new URL(req.url).pathname)?.[1];
    if (!room) return new Response("not found", { status: 404 });
    const from = { id: String(++nextId), name: `u${nextId}` };
    if (srv.upgrade(req, { data: { room, from } })) return undefined;
    return new Response("upgrade required", { status: 426 });
  },
  websocket: {
    perMessageDeflate: false,
    open(ws: ServerWebSocket<Data>) {
      ws.subscribe(ws.data.room);
      ws.send('{"type":"welcome"}');
    },
    message(ws: ServerWebSocket<Data>, data) {
      const frame = JSON.parse(String(data)) as { type?: string; text?: string; ref?: string };
      if (frame.type !== "say" || typeof frame.text !== "string") return;
      const { room, from } = ws.data;
      const seq = (seqs.get(room) ?? 0) + 1;
      seqs.set(room, seq);
      server.publish(
        room,
        JSON.stringify({ type: "message", seq, ts: Date.now(), from, text: frame.text, ref: frame.ref }),
      );
    },
  },
});

console.log(`bun peer listening on http://127.0.0.1:${server.port}`);
process.once("SIGTERM", () => {
  server.stop(true);
  process.exit(0);
});
