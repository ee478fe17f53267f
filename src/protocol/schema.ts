/**
 * The valibot schemas of every frame a client sends, and the one parse the room engine runs on each.
 * The rules that depend on configuration (the text limit) are built into the schema, so a frame comes
 * out of `parse` either fully valid or with the contract's error code; nothing checks it again later.
 */
import * as v from "valibot";
import { checkName, DEFAULTS, type ErrorCode, HISTORY_PAGE_MAX, hasTextControl, REF_MAX } from "./constants.ts";

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

/** What the parse of a client frame needs from the configuration. */
export interface FrameRules {
  /** The longest message text, in UTF-16 code units. */
  maxText: number;
}

/** The schema of every frame a client may send, for one configuration. */
export function clientFrameSchema(rules: FrameRules) {
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
  const SayFrame = v.object({ type: v.literal("say"), text, ref });
  const RenameFrame = v.object({ type: v.literal("rename"), name, ref });
  const TypingFrame = v.object({ type: v.literal("typing") });
  const HistoryFrame = v.object({
    type: v.literal("history"),
    before: count(0, Number.MAX_SAFE_INTEGER, "before"),
    limit: v.optional(count(1, HISTORY_PAGE_MAX, "limit")),
    ref,
  });
  const PingFrame = v.object({ type: v.literal("ping"), ref });
  // A variant on `type`; unknown fields are dropped.
  return v.variant("type", [SayFrame, RenameFrame, TypingFrame, HistoryFrame, PingFrame], (issue) =>
    typeof issue.input === "string" ? `unknown frame type "${issue.input.slice(0, 32)}"` : "type must be a string",
  );
}

/** Every frame a client may send, under the default limits. */
export const ClientFrame = clientFrameSchema({ maxText: DEFAULTS.maxText });

export type ClientFrame = v.InferOutput<typeof ClientFrame>;
export type SayFrame = Extract<ClientFrame, { type: "say" }>;
export type RenameFrame = Extract<ClientFrame, { type: "rename" }>;
export type TypingFrame = Extract<ClientFrame, { type: "typing" }>;
export type HistoryFrame = Extract<ClientFrame, { type: "history" }>;
export type PingFrame = Extract<ClientFrame, { type: "ping" }>;

export type Parsed = { ok: true; frame: ClientFrame } | { ok: false; code: ErrorCode; message: string; ref?: string };

/** A parser of client text frames for one configuration; nothing else reads client input before it. */
export function frameParser(rules: FrameRules): (text: string) => Parsed {
  const schema = rules.maxText === DEFAULTS.maxText ? ClientFrame : clientFrameSchema(rules);
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
    if (result.success) return { ok: true, frame: result.output };
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

/** Parse and validate one client text frame under the default limits. */
export const parseClientFrame = frameParser({ maxText: DEFAULTS.maxText });

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
