/**
 * Raw Deno.serve with Deno.upgradeWebSocket and a send loop: the floor Parley-on-Deno is measured
 * against. Run by deno: `deno run --allow-net=127.0.0.1 bench/peers/deno.ts PORT`.
 */

// The few Deno APIs used, typed here and reached through globalThis: Deno's lib types clash with Node's,
// and a global declaration would collide with src/adapter/deno/deno.d.ts in the project's tsconfig.
interface DenoApi {
  args: string[];
  serve(
    options: { port: number; hostname: string; onListen?: (addr: { port: number }) => void },
    handler: (request: Request) => Response,
  ): { shutdown(): Promise<void> };
  upgradeWebSocket(request: Request): { socket: WebSocket; response: Response };
  addSignalListener(signal: "SIGTERM", handler: () => void): void;
  exit(code?: number): never;
}
const Deno = (globalThis as unknown as { Deno: DenoApi }).Deno;

// A module, so that the `Deno` above is this file's own and not a second global.
export {};

const ROOM_PATH = /^\/rooms\/([A-Za-z0-9_-]{1,64})\/ws$/;
const rooms = new Map<string, { seq: number; members: Set<WebSocket> }>();
let nextId = 0;

Deno.serve(
  {
    hostname: "127.0.0.1",
    port: Number(Deno.args[0] ?? 0),
    onListen: ({ port }) => console.log(`deno peer listening on http://127.0.0.1:${port}`),
  },
  (request) => {
    const room = ROOM_PATH.exec(new URL(request.url).pathname)?.[1];
    if (!room) return new Response("not found", { status: 404 });
    const { socket, response } = Deno.upgradeWebSocket(request);
    const from = { id: String(++nextId), name: `u${nextId}` };
    const state = rooms.get(room) ?? { seq: 0, members: new Set<WebSocket>() };
    rooms.set(room, state);
    // Deno's socket cannot send before it opens, so it joins the room only then.
    socket.onopen = () => {
      state.members.add(socket);
      socket.send('{"type":"welcome"}');
    };
    socket.onmessage = (event) => {
      const frame = JSON.parse(String(event.data)) as { type?: string; text?: string; ref?: string };
      if (frame.type !== "say" || typeof frame.text !== "string") return;
      const out = JSON.stringify({
        type: "message",
        seq: ++state.seq,
        ts: Date.now(),
        from,
        text: frame.text,
        ref: frame.ref,
      });
      for (const member of state.members) member.send(out);
    };
    socket.onclose = () => {
      state.members.delete(socket);
    };
    return response;
  },
);
Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
