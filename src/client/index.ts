/**
 * Parley's typed client, on the standard WebSocket API alone: browsers, Deno, Bun, and Node (pass `ws`'s
 * constructor on Node 20, which has no global WebSocket).
 *
 * It keeps one promise to its user: every message of the room is delivered once, in `seq` order, across
 * any number of reconnects. A reconnect resumes with `since` + `epoch` + `token`; when the server can no
 * longer replay the gap, the client pages it with `history` before it delivers anything newer. Messages
 * said while offline wait in the outbox with their refs and are sent after the resume, except those the
 * replay shows were already committed, so nothing is posted twice. After `close()` nothing of it remains:
 * no socket, no timer, no request out.
 *
 * The modules, one concern each: connection.ts (the socket's life and the frames' dispatch), outbox.ts
 * (messages waiting for their ack, with the rate-limit resend), requests.ts (calls answered by ref),
 * rename.ts, gaps.ts (paging what a resume could not replay), handshake.ts (the socket's URL, and why a
 * handshake failed), reconnect.ts (what a close means, and the backoff), keepalive.ts, timers.ts (every
 * timer, cleared on close), emitter.ts, errors.ts, link.ts (what the parts see of the connection) and
 * types.ts (the public types).
 *
 * Values come from protocol/constants.ts alone and the protocol's frames as types, so that a page bundle
 * carries no validation library.
 */
import { ParleyClient } from "./connection.ts";
import type { ConnectOptions } from "./types.ts";

export type * from "../protocol/index.ts";
export { ParleyClient } from "./connection.ts";
export { ParleyError } from "./errors.ts";
export type {
  ClientEvents,
  ConnectionState,
  ConnectOptions,
  QueuedMessage,
  SocketConstructor,
  SocketLike,
  StateChange,
} from "./types.ts";

/** Open a client for one room of the server at `baseUrl` (http(s):// or ws(s)://). */
export function connect(baseUrl: string, options: ConnectOptions): ParleyClient {
  return new ParleyClient(baseUrl, options);
}
