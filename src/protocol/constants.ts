/**
 * The contract's constants and rules, with no dependencies: the server, the typed client and the chat
 * page all import them from here, so a value is written once (centrifuge-js's codes.ts is the model).
 */

/** Subprotocol the server selects when a client offers it (and not `parley.v2`). */
export const SUBPROTOCOL = "parley.v1";

/** The v2 subprotocol (PROTOCOL-v2): the room log of every kind, signed users, moderation. */
export const SUBPROTOCOL_V2 = "parley.v2";

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
export const ERROR_CODES = [
  "bad_json",
  "bad_frame",
  "too_long",
  "bad_name",
  "rate_limited",
  "internal",
  "forbidden",
  "not_found",
  "muted",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** Emoji in a reaction: 1–16 code points. */
export const EMOJI_MAX_CODE_POINTS = 16;

/** Distinct emoji one message may carry. */
export const REACTIONS_MAX = 20;

/** The longest ban or mute in minutes (a year). */
export const SANCTION_MINUTES_MAX = 525_600;

/** The longest moderation reason, in characters. */
export const REASON_MAX = 200;

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
  frameBurst: 60,
  framePerSec: 20,
  connectBurst: 100,
  connectPerSec: 10,
  maxMembersPerIp: 64,
  guestTtlMs: 24 * 60 * 60 * 1000,
  largeRoom: 50,
  presenceMs: 1000,
} as const;

/**
 * The most users a v2 `welcome` lists, and a `members` page's default size (docs/protocol.md, "Big
 * rooms"): a join's cost must not grow with the room, so a v2 client pages the rest itself.
 */
export const MEMBERS_PAGE = 100;

/** The largest `members` page a client may ask for. */
export const MEMBERS_PAGE_MAX = 500;

/**
 * How long a `429 too_many_connections` says to wait (`Retry-After`): other sockets of the address must
 * close first, which takes longer than a connect token does to come back.
 */
export const CROWDED_RETRY_MS = 5000;

/** The most JSON one history page, `welcome` or entries page may carry (PROTOCOL-v2 section 5). */
export const PAGE_MAX_BYTES = 256 * 1024;

/** The longest `ref` a client may send; it is echoed in acks and errors. */
export const REF_MAX = 64;

/** The most messages one `history` request may ask for. */
export const HISTORY_PAGE_MAX = 100;

// Control characters (C0, DEL, C1) are not allowed in display names.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// Bidirectional overrides and isolates, and zero-width characters: a name made with them can pose as
// another (or reverse the text around it) while looking the same.
const INVISIBLE = /[\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]/;
// In message text, C0 and C1 controls other than tab, line feed and carriage return: they render as
// nothing, and escaped in JSON each costs six bytes of every page that carries it.
const TEXT_CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;

/** Which name rule a refused name broke: its length, a control character, or an invisible one. */
export type NameRule = "length" | "control" | "invisible";

/** Trim, NFC-normalize and check a display name; returns the name, or the rule it broke and a message. */
export function checkName(raw: string): { ok: true; name: string } | { ok: false; rule: NameRule; message: string } {
  const name = raw.trim().normalize("NFC");
  if (name.length < 1 || name.length > NAME_MAX) {
    return { ok: false, rule: "length", message: `name must be 1–${NAME_MAX} characters after trimming` };
  }
  if (CONTROL.test(name)) return { ok: false, rule: "control", message: "name must not contain control characters" };
  if (INVISIBLE.test(name)) {
    return { ok: false, rule: "invisible", message: "name must not contain bidirectional or zero-width characters" };
  }
  return { ok: true, name };
}

/** Whether message text holds a control character other than tab, line feed and carriage return. */
export function hasTextControl(text: string): boolean {
  return TEXT_CONTROL.test(text);
}
