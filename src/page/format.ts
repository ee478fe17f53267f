/**
 * Pure text helpers for the page: times, the typing line, the status line, error sentences, names.
 * No DOM here, so each is easy to reason about (and to test).
 */
import type { StateChange } from "../client/index.ts";
import { NAME_MAX, type NameRule, TYPING_INTERVAL_MS } from "../protocol/constants.ts";

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
      return change.reason ? `Disconnected: ${change.reason}` : "Disconnected";
  }
}

/** A polite sentence for an error code from the server (or the client's own "offline"/"stopped"). */
export function errorText(code: string, message: string): string {
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
