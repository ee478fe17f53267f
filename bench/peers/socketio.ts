/**
 * Socket.IO 4 on Node: the popular library peer. Websocket transport only (the load client speaks
 * Engine.IO v4 directly), rooms through socket.join, one `io.to(room).emit` per message, which
 * Socket.IO encodes once for the whole room.
 */
import { createServer } from "node:http";
import { Server } from "socket.io";

const server = createServer((_req, res) => res.writeHead(404).end());
const io = new Server(server, { transports: ["websocket"], perMessageDeflate: false, serveClient: false });
const seqs = new Map<string, number>();
let nextId = 0;

io.on("connection", (socket) => {
  const room = String(socket.handshake.query.room ?? "lobby");
  const from = { id: String(++nextId), name: `u${nextId}` };
  socket.join(room);
  socket.emit("welcome");
  socket.on("say", (frame: { text?: unknown; ref?: unknown }) => {
    if (typeof frame?.text !== "string") return;
    const seq = (seqs.get(room) ?? 0) + 1;
    seqs.set(room, seq);
    io.to(room).emit("message", { type: "message", seq, ts: Date.now(), from, text: frame.text, ref: frame.ref });
  });
});

server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  const address = server.address();
  console.log(
    `socket.io peer listening on http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`,
  );
});
process.once("SIGTERM", () => process.exit(0));
