import { commands, WORKERS_OWNS } from "../helpers/runtimes.ts";
import { conformance } from "./suite.ts";

conformance({
  name: "workers",
  command: commands.workers,
  skip: {
    "idle: a connection that sends nothing, not even a pong, is closed": WORKERS_OWNS.idle,
    "1013 slow_reader: a client that stops reading is closed, and the others get every message": WORKERS_OWNS.sendQueue,
    "1001 on SIGTERM: every socket is told, and the server exits 0": WORKERS_OWNS.shutdown,
    "per-message compression is off":
      "under wrangler dev, miniflare's own entry worker (compatibility date 2023-07-24) answers the client's handshake and negotiates permessage-deflate before Parley sees the request; wrangler.toml sets no_web_socket_compression for the deployed Worker",
  },
});
