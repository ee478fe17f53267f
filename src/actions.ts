/**
 * The rules of the room log's v2 frames (PROTOCOL-v2 sections 1 and 3): who may edit, delete, react and
 * moderate, and what each makes. Each rule reads the room through `RoomView` and answers with a draft
 * (the entry's fields, the folded message it changes, a sanction, what to do once it is committed), a
 * no-op (acked with no `seq`), or a refusal. The room numbers, commits and sends the drafts, so the
 * order of the log stays in one place.
 */
import type { Config } from "./config.ts";
import {
  type ErrorCode,
  type Message,
  type ModerationAction,
  REACTIONS_MAX,
  type ReactFrame,
  type User,
} from "./protocol/index.ts";
import type { SanctionChange } from "./store/store.ts";

/** What the rules need to know of the room. */
export interface RoomView {
  /** A message's current folded state, this turn's changes included; undefined when there is none. */
  message(seq: number): Message | undefined;
  /** The user `uid` is in the room (present or stored), with their role when connected. */
  user(uid: string): User | undefined;
  /** When the user's mute ends (null: until lifted), or undefined when not muted at `now`. */
  mutedUntil(uid: string, now: number): number | null | undefined;
  /** Whether the user is banned at `now`. */
  isBanned(uid: string, now: number): boolean;
  /** The address groups of the user's open connections. */
  groupsOf(uid: string): string[];
}

/** An entry to make, without its `seq`, `ts`, `by` and `ref` (the room adds them). */
export type EntryFields =
  | { type: "edited"; target: number; text: string }
  | { type: "deleted"; target: number }
  | { type: "reacted"; target: number; emoji: string; on: boolean }
  | { type: "moderated"; action: ModerationAction; user: User; until?: number; reason?: string };

/** What a frame makes. */
export interface Draft {
  fields: EntryFields;
  /** The target message's folded state after this entry. */
  fold?: Message;
  /** A deletion: erase the target's text everywhere. */
  erase?: number;
  sanction?: SanctionChange;
  /** Users the entry names (never forgotten from now on). */
  named: string[];
  /** Once committed and sent: close a kicked or banned user's connections. */
  closeUser?: { uid: string; reason: "kicked" | "banned" };
}

/** A frame refused, as an `error` with its code. */
export interface Refusal {
  code: ErrorCode;
  message: string;
  retryAfterMs?: number;
}

/** A frame that changes nothing: acked with no `seq`. */
export const NO_CHANGE = { noChange: true } as const;

export type Outcome = Draft | Refusal | typeof NO_CHANGE;

const refuse = (code: ErrorCode, message: string, retryAfterMs?: number): Refusal => ({
  code,
  message,
  ...(retryAfterMs !== undefined && { retryAfterMs }),
});

/** The rules, for one room's configuration. */
export class LogRules {
  constructor(
    private readonly view: RoomView,
    private readonly config: Config,
  ) {}

  /** A live message to act on, or the refusal: not a message of the room, or deleted. */
  private target(seq: number): Message | Refusal {
    const m = this.view.message(seq);
    return m && !m.deleted ? m : refuse("not_found", `no message ${seq} in this room`);
  }

  /** The mute that stops `actor` from posting, editing or reacting, if any. */
  muted(actor: User, now: number): Refusal | undefined {
    const until = this.view.mutedUntil(actor.id, now);
    if (until === undefined) return undefined;
    // A mute with no end says so with the longest wait a client can be told: a day.
    const wait = until === null ? 86_400_000 : Math.max(1, until - now);
    return refuse("muted", "you are muted in this room", wait);
  }

  /** A reply must name a live message. */
  replyTo(seq: number): Refusal | undefined {
    const m = this.target(seq);
    return "code" in m ? m : undefined;
  }

  edit(actor: User, target: number, text: string, now: number): Outcome {
    const m = this.target(target);
    if ("code" in m) return m;
    if (m.from.id !== actor.id) return refuse("forbidden", "only the author may edit a message");
    if (now - m.ts > this.config.editWindowMs) return refuse("forbidden", "this message is too old to edit");
    const muted = this.muted(actor, now);
    if (muted) return muted;
    return { fields: { type: "edited", target, text }, fold: { ...m, text, edited: now }, named: [actor.id] };
  }

  delete(actor: User, target: number): Outcome {
    const m = this.target(target);
    if ("code" in m) return m;
    // The HTTP API (a bot actor) acts for the application: it may delete anything.
    if (m.from.id !== actor.id && !actor.bot) {
      if (actor.role !== "moderator") return refuse("forbidden", "only the author or a moderator may delete it");
      if (m.from.role === "moderator") return refuse("forbidden", "a moderator's message is not yours to delete");
    }
    const { reactions: _r, edited: _e, ...rest } = m;
    return {
      fields: { type: "deleted", target },
      fold: { ...rest, text: "", deleted: true },
      erase: target,
      named: [actor.id],
    };
  }

  react(actor: User, frame: ReactFrame, now: number): Outcome {
    const m = this.target(frame.target);
    if ("code" in m) return m;
    const muted = this.muted(actor, now);
    if (muted) return muted;
    const on = frame.on ?? true;
    const reactions = { ...(m.reactions ?? {}) };
    const who = reactions[frame.emoji] ?? [];
    if (on === who.includes(actor.id)) return NO_CHANGE;
    if (on) {
      if (!reactions[frame.emoji] && Object.keys(reactions).length >= REACTIONS_MAX) {
        return refuse("bad_frame", `a message carries at most ${REACTIONS_MAX} distinct emoji`);
      }
      reactions[frame.emoji] = [...who, actor.id];
    } else {
      const rest = who.filter((id) => id !== actor.id);
      if (rest.length > 0) reactions[frame.emoji] = rest;
      else delete reactions[frame.emoji];
    }
    const fold: Message = { ...m, reactions };
    if (Object.keys(reactions).length === 0) delete fold.reactions;
    return { fields: { type: "reacted", target: frame.target, emoji: frame.emoji, on }, fold, named: [actor.id] };
  }

  /** A moderator's action on `uid`: kick, ban (for `minutes`, or until lifted), unban, mute or unmute. */
  moderate(
    actor: User,
    action: "kick" | "ban" | "unban" | "mute" | "unmute",
    uid: string,
    now: number,
    options: { minutes?: number; reason?: string; [field: string]: unknown } = {},
  ): Outcome {
    // The HTTP API (a bot actor) acts for the application: it may moderate anyone, moderators included.
    if (actor.role !== "moderator" && !actor.bot) return refuse("forbidden", "only a moderator may do that");
    const user = this.view.user(uid);
    if (!user) return refuse("not_found", `no user ${uid} in this room`);
    if (user.role === "moderator" && !actor.bot) return refuse("forbidden", "a moderator is not yours to moderate");
    const reason = options.reason !== undefined ? { reason: options.reason } : {};
    const named = [actor.id, uid];
    const until = options.minutes ? now + options.minutes * 60_000 : undefined;
    switch (action) {
      case "kick":
        return { fields: { type: "moderated", action, user, ...reason }, named, closeUser: { uid, reason: "kicked" } };
      case "ban": {
        // An anonymous user is banned by token and, for anonymous joins, by where they connect from.
        const groups = user.sub === undefined ? this.view.groupsOf(uid) : [];
        return {
          fields: { type: "moderated", action, user, ...(until !== undefined && { until }), ...reason },
          sanction: { user: uid, kind: "ban", until: until ?? null, groups },
          named,
          closeUser: { uid, reason: "banned" },
        };
      }
      case "unban":
        if (!this.view.isBanned(uid, now)) return NO_CHANGE;
        return { fields: { type: "moderated", action, user }, sanction: { user: uid, kind: "ban", lift: true }, named };
      case "unmute":
      case "mute":
        if (action === "unmute" || !options.minutes) {
          if (this.view.mutedUntil(uid, now) === undefined) return NO_CHANGE;
          return {
            fields: { type: "moderated", action: "unmute", user },
            sanction: { user: uid, kind: "mute", lift: true },
            named,
          };
        }
        return {
          fields: { type: "moderated", action, user, until, ...reason } as EntryFields,
          sanction: { user: uid, kind: "mute", until: until ?? null },
          named,
        };
    }
  }
}
