/**
 * Pure text helpers for the page: times, the typing line, the status line, error sentences, names.
 * No DOM here, so each is easy to reason about (and to test).
 */
import type { ModeratedEntry, StateChange } from "../client/index.ts";
import { CLOSE, NAME_MAX, type NameRule, TYPING_INTERVAL_MS } from "../protocol/constants.ts";

/**
 * How long "is typing" lasts after a user's last notice. The server relays at most one notice per
 * interval, so the line outlasts the interval by half of one, and does not flicker between notices.
 */
export const TYPING_MS = TYPING_INTERVAL_MS * 1.5;

/** What ROOM_NAME (protocol/constants.ts) allows, in words a person reads. */
export const ROOM_NAME_TEXT = "1–64 letters, digits, - or _";

const pad = (n: number) => String(n).padStart(2, "0");

/** HH:MM in local time, the short time shown beside each message. */
export function clock(ts: number): string {
  const d = new Date(ts);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** The full local date and time, for a message time's title. */
export function fullDate(ts: number): string {
  return new Date(ts).toLocaleString(undefined, { dateStyle: "full", timeStyle: "medium" });
}

/** "ann is typing…", "ann and bob are typing…", and so on, or "" when nobody is. */
export function typingText(names: string[]): string {
  const [a, b, c] = names;
  switch (names.length) {
    case 0:
      return "";
    case 1:
      return `${a} is typing…`;
    case 2:
      return `${a} and ${b} are typing…`;
    case 3:
      return `${a}, ${b} and ${c} are typing…`;
    default:
      return `${a}, ${b} and ${names.length - 2} others are typing…`;
  }
}

/** The status line for a connection state; `leftMs` is what remains of a reconnect wait. */
export function statusText(change: StateChange, leftMs = 0): string {
  switch (change.state) {
    case "connecting":
      return "Connecting…";
    case "live":
      return "Live";
    case "reconnecting": {
      const seconds = Math.ceil(leftMs / 1000);
      return seconds >= 1 ? `Reconnecting in ${seconds} s…` : "Retrying…";
    }
    case "stopped":
      return stoppedText(change);
  }
}

/** Why a stopped connection stopped, from its close code or refused handshake (the client gives both). */
function stoppedText({ code, reason }: StateChange): string {
  if (stoppedBy(code, reason) === "kicked") return "Removed by a moderator";
  if (stoppedBy(code, reason) === "banned") return "Banned from this room";
  if (code === 401) return `Sign-in refused${reason ? `: ${reason}` : ""}`;
  if (code === 403) return `Not allowed in this room${reason ? `: ${reason}` : ""}`;
  return reason ? `Disconnected: ${reason}` : "Disconnected";
}

/** What a moderator did to this connection, if that is why it stopped: a 1008 close, or a join refused 403 banned. */
export function stoppedBy(code: number | undefined, reason = ""): "kicked" | "banned" | undefined {
  if (code === CLOSE.policy && (reason === "kicked" || reason === "banned")) return reason;
  if (code === 403 && /\bbanned\b/.test(reason)) return "banned";
  return undefined;
}

/** The composer's placeholder once the connection stopped. */
export function stoppedPlaceholder(change: StateChange): string {
  switch (stoppedBy(change.code, change.reason)) {
    case "kicked":
      return "A moderator removed you from this room. Use Reconnect to rejoin.";
    case "banned":
      return "A moderator banned you from this room.";
    default:
      return change.code === 401 || change.code === 403
        ? "You can't chat here with this sign-in."
        : "Disconnected. Use Reconnect to rejoin.";
  }
}

/** A span of minutes as words: "10 minutes", "1 hour", "2 days", "1 week". */
export function minutesText(minutes: number): string {
  const unit = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  if (minutes >= 10_080 && minutes % 10_080 === 0) return unit(minutes / 10_080, "week");
  if (minutes >= 1440 && minutes % 1440 === 0) return unit(minutes / 1440, "day");
  if (minutes >= 60 && minutes % 60 === 0) return unit(minutes / 60, "hour");
  return unit(minutes, "minute");
}

/** The timeline's line for a moderation entry: "Mo banned eve for 1 day: spam". */
export function moderationText(e: ModeratedEntry): string {
  const verb = { kick: "removed", ban: "banned", unban: "unbanned", mute: "muted", unmute: "unmuted" }[e.action];
  const span =
    e.until !== undefined && (e.action === "ban" || e.action === "mute")
      ? ` for ${minutesText(Math.max(1, Math.round((e.until - e.ts) / 60_000)))}`
      : "";
  const where = e.action === "kick" ? " from the room" : "";
  return `${e.by.name} ${verb} ${e.user.name}${where}${span}${e.reason ? `: ${e.reason}` : ""}`;
}

/** The reactions the picker offers, with the words a screen reader says for each. */
export const REACTIONS: readonly { emoji: string; name: string }[] = [
  { emoji: "👍", name: "thumbs up" },
  { emoji: "❤️", name: "heart" },
  { emoji: "😂", name: "laughing" },
  { emoji: "🎉", name: "party" },
  { emoji: "😮", name: "surprised" },
  { emoji: "😢", name: "sad" },
];

/** "Ada", "Ada and Grace", "Ada, Grace and 3 others": who reacted, for a tooltip. */
export function namesText(names: string[]): string {
  if (names.length <= 1) return names[0] ?? "";
  if (names.length <= 3) return `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
  return `${names.slice(0, 2).join(", ")} and ${names.length - 2} others`;
}

/** The start of a message's text, on one line, for a reply's quote. */
export function snippet(text: string, max = 90): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max - 1).trimEnd()}…` : line;
}

/** A polite sentence for an error code from the server (or the client's own "offline"/"stopped"). */
export function errorText(code: string, message: string, retryAfterMs?: number): string {
  switch (code) {
    case "too_long":
      return `That message is too long to send (${message}). Please shorten it.`;
    case "rate_limited":
      return "You're going a little fast. Please wait a moment and try again.";
    case "bad_name":
      return `That name can't be used: ${message}.`;
    case "bad_frame":
      return `The server couldn't accept that: ${message}.`;
    case "internal":
      return "The server couldn't save that just now. Please try again.";
    case "offline":
      return "You're offline right now. Please try again once the connection is back.";
    case "forbidden":
      return `That isn't allowed: ${message}.`;
    case "not_found":
      return `That message or person is no longer there (${message}).`;
    case "muted":
      return `A moderator muted you: you can read, but not post or react${
        retryAfterMs ? ` for ${minutesText(Math.max(1, Math.ceil(retryAfterMs / 60_000)))}` : " for now"
      }.`;
    case "unsupported":
      return "This server doesn't support that.";
    case "stopped":
      return `Your message wasn't sent (${message.replace(/^not sent: /, "")}).`;
    default:
      return message || "Something went wrong.";
  }
}

/** The display-name rule a name broke (from protocol/constants.ts's `checkName`), in words a person reads. */
export function nameRuleText(rule: NameRule): string {
  switch (rule) {
    case "length":
      return `names are 1–${NAME_MAX} characters`;
    case "control":
      return "names can't hold control characters";
    case "invisible":
      return "names can't hold invisible or text-direction characters";
  }
}

/** One of 8 colour slots for a user id, so a person keeps a colour across renames and reloads. */
export function colorSlot(id: string): number {
  let hash = 0;
  for (let i = 0; i < id.length; i++) hash = (hash * 31 + id.charCodeAt(i)) >>> 0;
  return hash % 8;
}

const graphemes = typeof Intl.Segmenter === "function" ? new Intl.Segmenter() : undefined;

/** The first character of a name, as a person reads it (an emoji stays whole), for avatars. */
export function initial(name: string): string {
  const trimmed = name.trim();
  const first = graphemes ? graphemes.segment(trimmed)[Symbol.iterator]().next().value?.segment : trimmed[0];
  return (first ?? "?").toLocaleUpperCase();
}

/** Whether a room name looks like one from POST /api/rooms (lowercase hex, 128 bits or more). */
export function isPrivateRoom(room: string): boolean {
  return /^[0-9a-f]{32,64}$/.test(room);
}
