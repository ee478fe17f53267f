/**
 * The v1 wire protocol (docs/protocol.md): frame schemas, frame types, error and close codes.
 * Clients may import the types from here; nothing in this file touches a runtime.
 */
import * as v from "valibot";

/** Subprotocol the server selects when a client offers it. */
export const SUBPROTOCOL = "parley.v1";

/** `A–Z a–z 0–9 - _`, 1–64 characters; case matters. */
export const ROOM_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  unsupportedData: 1003,
  policy: 1008,
  tooBig: 1009,
  internal: 1011,
  tryAgainLater: 1013,
} as const;

export type ErrorCode = "bad_json" | "bad_frame" | "too_long" | "bad_name" | "rate_limited" | "internal";

// ---- client → server ----------------------------------------------------------------------

// SQLite keeps text as UTF-8, which has no lone surrogates: each driver stores U+FFFD instead (better-sqlite3
// even three of them), so history and resumes would differ from what was broadcast live. JSON can still carry
// one ("\ud800"). So a text or a name gets U+FFFD in its place before anything is stored or sent, which keeps
// its length; a ref, which a client matches its ack against, must come back exactly and is refused instead.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const wellFormed = (s: string) => s.search(LONE_SURROGATE) < 0;
const unicodeText = v.pipe(
  v.string(),
  v.transform((s) => s.replace(LONE_SURROGATE, "\ufffd")),
);
const ref = v.optional(
  v.pipe(
    v.string(),
    v.maxLength(64, "ref is at most 64 characters"),
    v.check(wellFormed, "ref must be well-formed Unicode (no lone surrogates)"),
  ),
);
const count = (min: number, max: number, what: string) =>
  v.pipe(v.number(), v.integer(`${what} must be an integer`), v.minValue(min), v.maxValue(max));

// Length limits that depend on configuration (text, names) are checked after the shape, so that
// a well-typed but over-long text gets `too_long` and not `bad_frame`.
const SayFrame = v.object({ type: v.literal("say"), text: unicodeText, ref });
const RenameFrame = v.object({ type: v.literal("rename"), name: unicodeText, ref });
const TypingFrame = v.object({ type: v.literal("typing") });
const HistoryFrame = v.object({
  type: v.literal("history"),
  before: count(0, Number.MAX_SAFE_INTEGER, "before"),
  limit: v.optional(count(1, 100, "limit")),
  ref,
});
const PingFrame = v.object({ type: v.literal("ping"), ref });

/** Every frame a client may send: a variant on `type`; unknown fields are dropped. */
export const ClientFrame = v.variant("type", [SayFrame, RenameFrame, TypingFrame, HistoryFrame, PingFrame], (issue) =>
  typeof issue.input === "string" ? `unknown frame type "${issue.input.slice(0, 32)}"` : "type must be a string",
);

export type SayFrame = v.InferOutput<typeof SayFrame>;
export type RenameFrame = v.InferOutput<typeof RenameFrame>;
export type TypingFrame = v.InferOutput<typeof TypingFrame>;
export type HistoryFrame = v.InferOutput<typeof HistoryFrame>;
export type PingFrame = v.InferOutput<typeof PingFrame>;
export type ClientFrame = v.InferOutput<typeof ClientFrame>;

// ---- server → client ----------------------------------------------------------------------

export interface User {
  id: string;
  name: string;
}

export interface Message {
  type: "message";
  seq: number;
  ts: number;
  from: User;
  text: string;
  ref?: string;
}

export interface WelcomeFrame {
  type: "welcome";
  room: string;
  epoch: string;
  you: User;
  token: string;
  members: User[];
  messages: Message[];
  seq: number;
  resumed: boolean;
}
export interface AckFrame {
  type: "ack";
  ref: string;
  seq: number;
}
export interface JoinedFrame {
  type: "joined";
  user: User;
}
export interface LeftFrame {
  type: "left";
  user: User;
}
export interface RenamedFrame {
  type: "renamed";
  user: User;
  from: string;
}
export interface TypingNotice {
  type: "typing";
  user: User;
}
export interface HistoryPage {
  type: "history";
  messages: Message[];
  more: boolean;
  ref?: string;
}
export interface PongFrame {
  type: "pong";
  ref?: string;
}
export interface ErrorFrame {
  type: "error";
  code: ErrorCode;
  message: string;
  ref?: string;
  retryAfterMs?: number;
}

export type ServerFrame =
  | WelcomeFrame
  | Message
  | AckFrame
  | JoinedFrame
  | LeftFrame
  | RenamedFrame
  | TypingNotice
  | HistoryPage
  | PongFrame
  | ErrorFrame;

// ---- HTTP ---------------------------------------------------------------------------------

export interface RoomInfo {
  room: string;
  epoch: string;
  seq: number;
  members: User[];
}
export interface MessagePage {
  messages: Message[];
  more: boolean;
}
export interface HttpError {
  error: { code: string; message: string };
}

// ---- parsing ------------------------------------------------------------------------------

export type Parsed = { ok: true; frame: ClientFrame } | { ok: false; code: ErrorCode; message: string; ref?: string };

/** Parse and validate one client text frame; nothing else reads client input before this. */
export function parseClientFrame(text: string): Parsed {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, code: "bad_json", message: "frame is not valid JSON" };
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return { ok: false, code: "bad_frame", message: "a frame must be a JSON object" };
  }
  const result = v.safeParse(ClientFrame, json);
  if (result.success) return { ok: true, frame: result.output };
  const issue = result.issues[0];
  const path = issue.path?.map((p) => String(p.key)).join(".");
  const message = path ? `${path}: ${issue.message}` : issue.message;
  return { ok: false, code: "bad_frame", message: message.slice(0, 200), ref: refOf(json) };
}

/** The `ref` of a rejected frame, echoed only when it was itself valid. */
function refOf(json: unknown): string | undefined {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return undefined;
  const ref = Object.hasOwn(json, "ref") ? (json as { ref: unknown }).ref : undefined;
  return typeof ref === "string" && ref.length <= 64 && wellFormed(ref) ? ref : undefined;
}

// Control characters (C0, DEL, C1) are not allowed in display names.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Trim and check a display name; returns the name or an error message. */
export function checkName(raw: string): { ok: true; name: string } | { ok: false; message: string } {
  const name = raw.trim();
  if (name.length < 1 || name.length > 32) return { ok: false, message: "name must be 1–32 characters after trimming" };
  if (CONTROL.test(name)) return { ok: false, message: "name must not contain control characters" };
  return { ok: true, name };
}

/** Check a `say` text against the text limit; blank text is a bad frame. */
export function checkText(
  text: string,
  maxText: number,
): { ok: true } | { ok: false; code: ErrorCode; message: string } {
  if (text.length > maxText) return { ok: false, code: "too_long", message: `text is over ${maxText} characters` };
  if (text.trim().length === 0) return { ok: false, code: "bad_frame", message: "text must not be blank" };
  return { ok: true };
}
