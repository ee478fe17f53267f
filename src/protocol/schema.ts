/**
 * The valibot schemas of every frame a client sends, and the one parse the room engine runs on each.
 * The rules that depend on configuration (the text limit) are built into the schema, so a frame comes
 * out of `parse` either fully valid or with the contract's error code; nothing checks it again later.
 */
import * as v from "valibot";
import {
  checkName,
  DEFAULTS,
  EMOJI_MAX_CODE_POINTS,
  type ErrorCode,
  HISTORY_PAGE_MAX,
  hasTextControl,
  MEMBERS_PAGE_MAX,
  REASON_MAX,
  REF_MAX,
  SANCTION_MINUTES_MAX,
} from "./constants.ts";

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
    v.maxLength(REF_MAX, `ref is at most ${REF_MAX} characters`),
    v.check(wellFormed, "ref must be well-formed Unicode (no lone surrogates)"),
  ),
);
const count = (min: number, max: number, what: string) =>
  v.pipe(v.number(), v.integer(`${what} must be an integer`), v.minValue(min), v.maxValue(max));

// Issues that carry a contract code other than bad_frame say so in their message, behind this mark; a
// message without it is a shape error (bad_frame) and gets the field's path in front.
const CODED = /^(too_long|bad_name): /;
const coded = (code: "too_long" | "bad_name", message: string) => `${code}: ${message}`;

/** What the parse of a client frame needs from the configuration and the connection. */
export interface FrameRules {
  /** The longest message text, in UTF-16 code units. */
  maxText: number;
  /** The protocol the connection speaks: v2 adds the room log's and moderation's frames. */
  version?: 1 | 2;
}

// An emoji is 1–16 code points with no white space or control characters (PROTOCOL-v2 section 1).
const emoji = v.pipe(
  v.string(),
  v.check(wellFormed, "emoji must be well-formed Unicode"),
  v.check((s) => {
    const n = [...s].length;
    return n >= 1 && n <= EMOJI_MAX_CODE_POINTS;
  }, `emoji must be 1–${EMOJI_MAX_CODE_POINTS} code points`),
  v.check((s) => !/[\s\u0000-\u001f\u007f-\u009f]/.test(s), "emoji must not contain white space or control characters"),
);
const seqOf = (what: string) => count(1, Number.MAX_SAFE_INTEGER, what);
const userId = v.pipe(
  v.string(),
  v.minLength(1, "user must not be empty"),
  v.maxLength(64, "user is at most 64 characters"),
);
const reason = v.optional(
  v.pipe(
    unicodeText,
    v.maxLength(REASON_MAX, `reason is at most ${REASON_MAX} characters`),
    v.check((s) => !hasTextControl(s), "reason must not contain control characters"),
  ),
);

const unknownType = (issue: { input: unknown }) =>
  typeof issue.input === "string" ? `unknown frame type "${issue.input.slice(0, 32)}"` : "type must be a string";

/** The fields that depend on the configuration: a message text and a display name. */
function textRules(rules: FrameRules) {
  const text = v.pipe(
    unicodeText,
    v.maxLength(rules.maxText, coded("too_long", `text is over ${rules.maxText} characters`)),
    // An over-long text is too_long even when it is blank, as the length is the rule it broke first.
    v.check((s) => s.length > rules.maxText || s.trim().length > 0, "text must not be blank"),
    v.check((s) => s.length > rules.maxText || !hasTextControl(s), "text must not contain control characters"),
  );
  const name = v.pipe(
    unicodeText,
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const ok = checkName(dataset.value);
      if (ok.ok) return ok.name;
      addIssue({ message: coded("bad_name", ok.message) });
      return NEVER;
    }),
  );
  return { text, name };
}

const TypingFrame = v.object({ type: v.literal("typing") });
const PingFrame = v.object({ type: v.literal("ping"), ref });
const historyFields = {
  type: v.literal("history"),
  before: count(0, Number.MAX_SAFE_INTEGER, "before"),
  limit: v.optional(count(1, HISTORY_PAGE_MAX, "limit")),
  ref,
};

/** The frames of a v1 connection. */
function v1Schema(rules: FrameRules) {
  const { text, name } = textRules(rules);
  // A variant on `type`; unknown fields (a v2 `replyTo` included) are dropped.
  return v.variant(
    "type",
    [
      v.object({ type: v.literal("say"), text, ref }),
      v.object({ type: v.literal("rename"), name, ref }),
      TypingFrame,
      v.object(historyFields),
      PingFrame,
    ],
    unknownType,
  );
}

/** The frames of a v2 connection: v1's, with `replyTo` and `entries`, and the log's and moderation's. */
function v2Schema(rules: FrameRules) {
  const { text, name } = textRules(rules);
  const target = seqOf("target");
  return v.variant(
    "type",
    [
      v.object({ type: v.literal("say"), text, ref, replyTo: v.optional(seqOf("replyTo")) }),
      v.object({ type: v.literal("rename"), name, ref }),
      TypingFrame,
      v.object({ ...historyFields, entries: v.optional(v.boolean("entries must be true or false")) }),
      PingFrame,
      v.object({ type: v.literal("edit"), target, text, ref }),
      v.object({ type: v.literal("delete"), target, ref }),
      v.object({ type: v.literal("react"), target, emoji, on: v.optional(v.boolean("on must be true or false")), ref }),
      v.object({ type: v.literal("kick"), user: userId, reason, ref }),
      v.object({
        type: v.literal("ban"),
        user: userId,
        minutes: v.optional(count(1, SANCTION_MINUTES_MAX, "minutes")),
        reason,
        ref,
      }),
      v.object({ type: v.literal("unban"), user: userId, ref }),
      v.object({
        type: v.literal("members"),
        after: v.optional(count(0, Number.MAX_SAFE_INTEGER, "after")),
        limit: v.optional(count(1, MEMBERS_PAGE_MAX, "limit")),
        ref,
      }),
      v.object({
        type: v.literal("mute"),
        user: userId,
        minutes: count(0, SANCTION_MINUTES_MAX, "minutes"),
        reason,
        ref,
      }),
    ],
    unknownType,
  );
}

/** The schema of every frame a client may send, for one configuration and protocol version. */
export function clientFrameSchema(rules: FrameRules) {
  return rules.version === 2 ? v2Schema(rules) : v1Schema(rules);
}

/** Every frame a client may send, under the default limits (v2, which includes v1's). */
export const ClientFrame = v2Schema({ maxText: DEFAULTS.maxText, version: 2 });

export type ClientFrame = v.InferOutput<typeof ClientFrame>;
export type SayFrame = Extract<ClientFrame, { type: "say" }>;
export type EditFrame = Extract<ClientFrame, { type: "edit" }>;
export type DeleteFrame = Extract<ClientFrame, { type: "delete" }>;
export type ReactFrame = Extract<ClientFrame, { type: "react" }>;
export type KickFrame = Extract<ClientFrame, { type: "kick" }>;
export type BanFrame = Extract<ClientFrame, { type: "ban" }>;
export type UnbanFrame = Extract<ClientFrame, { type: "unban" }>;
export type MuteFrame = Extract<ClientFrame, { type: "mute" }>;
export type RenameFrame = Extract<ClientFrame, { type: "rename" }>;
export type TypingFrame = Extract<ClientFrame, { type: "typing" }>;
export type HistoryFrame = Extract<ClientFrame, { type: "history" }>;
export type PingFrame = Extract<ClientFrame, { type: "ping" }>;
export type MembersFrame = Extract<ClientFrame, { type: "members" }>;

export type Parsed = { ok: true; frame: ClientFrame } | { ok: false; code: ErrorCode; message: string; ref?: string };

const schemas = new Map<string, ReturnType<typeof clientFrameSchema>>();

/** A parser of client text frames for one configuration; nothing else reads client input before it. */
export function frameParser(rules: FrameRules): (text: string) => Parsed {
  // One schema per configuration and version, shared by every room (building one costs more than a parse).
  const key = `${rules.maxText}:${rules.version ?? 1}`;
  let schema = schemas.get(key);
  if (!schema) {
    schema = clientFrameSchema(rules);
    schemas.set(key, schema);
  }
  return (text) => {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return { ok: false, code: "bad_json", message: "frame is not valid JSON" };
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      return { ok: false, code: "bad_frame", message: "a frame must be a JSON object" };
    }
    const result = v.safeParse(schema, json);
    if (result.success) return { ok: true, frame: result.output as ClientFrame };
    // A shape error wins over a rule a well-typed field broke: `{"text":<too long>,"ref":5}` is bad_frame.
    const issue = result.issues.find((i) => !CODED.test(i.message)) ?? result.issues[0];
    const mark = CODED.exec(issue.message);
    if (mark) {
      return { ok: false, code: mark[1] as ErrorCode, message: issue.message.slice(mark[0].length), ref: refOf(json) };
    }
    const path = issue.path?.map((p) => String(p.key)).join(".");
    const message = path ? `${path}: ${issue.message}` : issue.message;
    return { ok: false, code: "bad_frame", message: message.slice(0, 200), ref: refOf(json) };
  };
}

/** Parse and validate one client text frame of a v1 connection under the default limits. */
export const parseClientFrame = frameParser({ maxText: DEFAULTS.maxText, version: 1 });

/** The `ref` of a rejected frame, echoed only when it was itself valid. */
function refOf(json: unknown): string | undefined {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return undefined;
  const ref = Object.hasOwn(json, "ref") ? (json as { ref: unknown }).ref : undefined;
  return typeof ref === "string" && ref.length <= REF_MAX && wellFormed(ref) ? ref : undefined;
}

/** Check a message text as the `say` schema does: too_long over the limit; blank or control characters, bad_frame. */
export function checkText(
  text: string,
  maxText: number,
): { ok: true } | { ok: false; code: ErrorCode; message: string } {
  if (text.length > maxText) return { ok: false, code: "too_long", message: `text is over ${maxText} characters` };
  if (text.trim().length === 0) return { ok: false, code: "bad_frame", message: "text must not be blank" };
  if (hasTextControl(text))
    return { ok: false, code: "bad_frame", message: "text must not contain control characters" };
  return { ok: true };
}
