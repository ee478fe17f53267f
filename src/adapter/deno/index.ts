/**
 * Deno entry: the Node adapter's server (node:http, @hono/node-server and `ws`; ../node/apis.ts) under
 * Deno's Node compatibility, with node:sqlite for history. Start it through `npm run start:deno`
 * (scripts/start-deno.ts), which grants only the permissions it needs.
 *
 * Why not Deno.serve and Deno.upgradeWebSocket: Deno reads a whole message before the app sees it, and
 * gives no limit to set (Deno 2.9.6 takes only protocol, idleTimeout, socket and head; denoland/deno
 * #15809), so a 60 MB frame was buffered, RSS +164 MiB, before Parley could close it with 1009. Deno.serve
 * cannot hand its connection to anything that could limit (no raw upgrade), and upgrading a node:http
 * socket with Deno.upgradeWebSocket still reads whole messages. `ws` with maxPayload closes with 1009 as
 * soon as a frame's header announces too much (RSS +2 MiB), and with the Node writer (one frame built per
 * message, one write per socket per turn) fan-out 32 went from 0.88× raw Deno.serve to 5.0×
 * (docs/architecture.md, Deno). `ws` also splits Sec-WebSocket-Protocol on "," with or without a space.
 * Deno's idleTimeout went with Deno.upgradeWebSocket: Parley's idle sweep ends silent sockets, as on Node.
 */

import { ENV_NAMES } from "../../config.ts";
import { serveProcess } from "../../process-host.ts";
import { nodeApis } from "../node/apis.ts";

serveProcess({
  name: "deno",
  // Read variable by variable: Deno is granted these names only, and toObject() would need them all.
  env: Object.fromEntries(ENV_NAMES.map((name) => [name, Deno.env.get(name)])),
  ...nodeApis,
});
