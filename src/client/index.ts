/**
 * Parley's typed client, on the standard WebSocket API alone: browsers, Deno, Bun, and Node (pass `ws`'s
 * constructor on Node 20, which has no global WebSocket).
 *
 * It keeps one promise to its user: every entry of the room log (every message, and on a `parley.v2`
 * connection every edit, deletion, reaction and moderation) is delivered once, in `seq` order, across any
 * number of reconnects, and folded once into `client.messages`, the room as it now stands. A reconnect
 * resumes with `since` + `epoch` + `token`; when the server can no longer replay the gap, the client
 * pages it with `history` (raw entries on v2) before it delivers anything newer. Messages said and other
 * entries made while offline wait in the outbox with their refs and are sent after the resume, except
 * those the replay shows were already committed, so nothing is made twice. After `close()` nothing of it
 * remains: no socket, no timer, no request out.
 *
 * The client offers `parley.v2` and `parley.v1`; against a server that selects `parley.v1` it is a v1
 * client, and the v2 calls reject with `unsupported`.
 *
 * The modules, one concern each: connection.ts (the socket's life and the frames' dispatch), calls.ts
 * (the calls that make entries), outbox.ts (their frames waiting for an ack, with the rate-limit resend),
 * log.ts (each entry applied once) and fold.ts (the folded view), requests.ts (calls answered by ref),
 * rename.ts, gaps.ts (paging what a resume could not replay), access.ts (the access token for each
 * connect), handshake.ts (the socket's URL, and why a handshake failed), reconnect.ts (what a close
 * means, and the backoff), keepalive.ts, timers.ts (every timer, cleared on close), emitter.ts,
 * errors.ts, link.ts (what the parts see of the connection) and types.ts (the public types).
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
  AccessToken,
  Ack,
  BanOptions,
  ClientEvents,
  ConnectionState,
  ConnectOptions,
  FoldedMessage,
  MessageRef,
  QueuedMessage,
  SayOptions,
  SocketConstructor,
  SocketLike,
  StateChange,
  UserRef,
  ViewChange,
} from "./types.ts";

/** Open a client for one room of the server at `baseUrl` (http(s):// or ws(s)://). */
export function connect(baseUrl: string, options: ConnectOptions): ParleyClient {
  return new ParleyClient(baseUrl, options);
}
