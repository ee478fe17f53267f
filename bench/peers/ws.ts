/**
 * Raw `ws` broadcast server on Node: the floor Parley-on-Node is measured against. It speaks the bench
 * dialect (bench/README in docs/benchmarks.md): a `welcome` once the socket is in its room, then every
 * `say` of the room as a `message`, the sender included. No validation, no store, no limits.
 */
import { createServer } from "node:http";
import { type WebSocket, WebSocketServer } from "ws";

const ROOM_PATH = /^\/rooms\/([A-Za-z0-9_-]{1,64})\/ws(?:\?|$)/;
const rooms = new Map<string, { seq: number; members: Set<WebSocket> }>();
let nextId = 0;

const server = createServer((_req, res) => res.writeHead(404).end());
// No compression, as Parley: the comparison is about the server, not zlib.
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });

server.on("upgrade", (req, socket, head) => {
  const room = ROOM_PATH.exec(req.url ?? "")?.[1];
  if (!room) return socket.destroy();
  wss.handleUpgrade(req, socket, head, (ws) => {
    const state = rooms.get(room) ?? { seq: 0, members: new Set<WebSocket>() };
    rooms.set(room, state);
    state.members.add(ws);
    const from = { id: String(++nextId), name: `u${nextId}` };
    ws.send('{"type":"welcome"}');
    ws.on("message", (data) => {
      const frame = JSON.parse(String(data)) as { type?: string; text?: string; ref?: string };
      if (frame.type !== "say" || typeof frame.text !== "string") return;
      // Serialized once per message and sent as the same string to every member, as Parley does.
      const out = JSON.stringify({
        type: "message",
        seq: ++state.seq,
        ts: Date.now(),
        from,
        text: frame.text,
        ref: frame.ref,
      });
      for (const member of state.members) member.send(out);
    });
    ws.on("close", () => {
      state.members.delete(ws);
      if (state.members.size === 0) rooms.delete(room);
    });
  });
});

server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  const address = server.address();
  console.log(`ws peer listening on http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`);
});
process.once("SIGTERM", () => process.exit(0));
