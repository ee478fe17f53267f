import { commands } from "../helpers/runtimes.ts";
import { conformance } from "./suite.ts";

const PLATFORM = "on Workers the platform owns this (docs/protocol.md, 'Workers: where the platform decides'): ";

conformance({
  name: "workers",
  command: commands.workers,
  skip: {
    "idle: a connection that sends nothing, not even a pong, is closed": `${PLATFORM}a Durable Object sets no timers and sends no pings, so that it can hibernate; the platform closes dead sockets`,
    "1013 slow_reader: a client that stops reading is closed, and the others get every message": `${PLATFORM}a Durable Object's sockets expose no send queue, so the send-queue limit is not enforced`,
    "1001 on SIGTERM: every socket is told, and the server exits 0": `${PLATFORM}a deploy or reset drops the sockets and clients resume; there is no process to stop`,
    "per-message compression is off":
      "under wrangler dev, miniflare's own entry worker (compatibility date 2023-07-24) answers the client's handshake and negotiates permessage-deflate before Parley sees the request; wrangler.toml sets no_web_socket_compression for the deployed Worker",
  },
});
