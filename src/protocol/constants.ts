/**
 * The contract's constants and rules, with no dependencies: the server, the typed client and the chat
 * page all import them from here, so a value is written once (centrifuge-js's codes.ts is the model).
 */

/** Subprotocol the server selects when a client offers it. */
export const SUBPROTOCOL = "parley.v1";

/** `A–Z a–z 0–9 - _`, 1–64 characters; case matters. */
export const ROOM_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** What a refused room name is told. */
export const ROOM_NAME_RULE = "room names are 1–64 of A–Z a–z 0–9 - _";

/** Close codes the server sends (PROTOCOL.md's close-code table). */
export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  unsupportedData: 1003,
  policy: 1008,
  tooBig: 1009,
  internal: 1011,
  tryAgainLater: 1013,
} as const;

/**
 * The code the typed client closes a socket with when it gives up on it (a dead or timed-out
 * connection): a private-use code (4000–4999), so the server never mistakes it for its own.
 */
export const CLIENT_GAVE_UP = 4000;

/** Close codes after which a client must not reconnect: a normal close, or one its own frames caused. */
export const CLOSE_STOPS: readonly number[] = [CLOSE.normal, CLOSE.unsupportedData, CLOSE.policy, CLOSE.tooBig];

/** Close codes after which a client waits before reconnecting: the server failed, or is full. */
export const CLOSE_BACKS_OFF: readonly number[] = [CLOSE.internal, CLOSE.tryAgainLater];

/** Error codes of `error` frames. */
export type ErrorCode = "bad_json" | "bad_frame" | "too_long" | "bad_name" | "rate_limited" | "internal";

/** The server relays at most one `typing` per user in this interval. */
export const TYPING_INTERVAL_MS = 2000;

/** Display names: 1–32 UTF-16 code units after trimming. */
export const NAME_MAX = 32;

/** Default limits (docs/protocol.md, "Defaults"); each has an environment variable. */
export const DEFAULTS = {
  maxFrameBytes: 16 * 1024,
  maxText: 2000,
  rateBurst: 10,
  ratePerSec: 2,
  maxMembers: 1000,
  maxStrikes: 30,
  maxConnectionsPerIp: 256,
  idleTimeoutMs: 60_000,
  maxQueueBytes: 1024 * 1024,
  historyLimit: 10_000,
} as const;

/** The longest `ref` a client may send; it is echoed in acks and errors. */
export const REF_MAX = 64;

/** The most messages one `history` request may ask for. */
export const HISTORY_PAGE_MAX = 100;

// Control characters (C0, DEL, C1) are not allowed in display names.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Which name rule a refused name broke: its length, or a control character. */
export type NameRule = "length" | "control";

/** Trim and check a display name; returns the name, or the rule it broke and a message. */
export function checkName(raw: string): { ok: true; name: string } | { ok: false; rule: NameRule; message: string } {
  const name = raw.trim();
  if (name.length < 1 || name.length > NAME_MAX) {
    return { ok: false, rule: "length", message: `name must be 1–${NAME_MAX} characters after trimming` };
  }
  if (CONTROL.test(name)) return { ok: false, rule: "control", message: "name must not contain control characters" };
  return { ok: true, name };
}
