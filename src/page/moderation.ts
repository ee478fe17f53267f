/**
 * What a moderator can do to a person (from the member list, or from a message's "More" menu): mute
 * for a while, kick, ban for a while or for good, and undo a mute or ban this page saw. Each asks first
 * (dialog.ts: how long, and an optional reason everyone sees), then calls the client; the room's
 * `moderated` entry then shows as a line in the timeline for everyone.
 */
import type { ModeratedEntry, User } from "../client/index.ts";
import { ask, type Duration } from "./dialog.ts";
import type { MenuItem } from "./menu.ts";
import { explain, showError } from "./notices.ts";
import { currentSession, isModerator, type Session, speaksV2 } from "./session.ts";

const MUTE_FOR: Duration[] = [
  { text: "10 minutes", minutes: 10 },
  { text: "1 hour", minutes: 60 },
  { text: "1 day", minutes: 1440 },
  { text: "1 week", minutes: 10_080 },
];
const BAN_FOR: Duration[] = [
  { text: "1 hour", minutes: 60 },
  { text: "1 day", minutes: 1440 },
  { text: "1 week", minutes: 10_080 },
  { text: "Until a moderator lifts it", minutes: undefined },
];

/** Whether this user may moderate `user` here: a moderator, not themselves, not another moderator. */
export function mayModerateUser(s: Session | undefined, user: User): boolean {
  return !!s && speaksV2(s) && isModerator(s) && user.id !== s.client.me?.id && user.role !== "moderator";
}

/** The menu items for what this moderator can do to `user`, as the page knows their state. */
export function personItems(s: Session, user: User, divided = false): MenuItem[] {
  const now = Date.now();
  const name = user.name;
  const items: MenuItem[] = [];
  if ((s.muted.get(user.id) ?? 0) > now) items.push({ text: `Unmute ${name}`, run: () => lift(s, "mute", user) });
  else items.push({ text: `Mute ${name}…`, run: () => void moderate(s, "mute", user) });
  items.push({ text: `Kick ${name}…`, danger: true, run: () => void moderate(s, "kick", user) });
  if ((s.banned.get(user.id) ?? 0) > now) items.push({ text: `Unban ${name}`, run: () => lift(s, "ban", user) });
  else items.push({ text: `Ban ${name}…`, danger: true, run: () => void moderate(s, "ban", user) });
  if (divided) items[0].divided = true;
  return items;
}

/** Keep what a moderation entry says of bans and mutes, for the menus' Unban and Unmute. */
export function noteModeration(s: Session, e: ModeratedEntry): void {
  const until = e.until ?? Number.POSITIVE_INFINITY;
  if (e.action === "ban") s.banned.set(e.user.id, until);
  else if (e.action === "unban") s.banned.delete(e.user.id);
  else if (e.action === "mute") s.muted.set(e.user.id, until);
  else if (e.action === "unmute") s.muted.delete(e.user.id);
}

/** Ask how long and why, then mute, kick or ban `user`. */
async function moderate(s: Session, action: "mute" | "kick" | "ban", user: User) {
  const name = user.name;
  const question = {
    mute: {
      title: `Mute ${name}?`,
      text: `${name} can still read, but can't post, edit or react until the mute ends. Everyone here sees that you muted them.`,
      confirm: "Mute",
      durations: MUTE_FOR,
    },
    kick: {
      title: `Kick ${name}?`,
      text: `${name} is disconnected from this room now, and can join again. Everyone here sees that you removed them.`,
      confirm: "Kick",
    },
    ban: {
      title: `Ban ${name}?`,
      text: `${name} is disconnected now and can't rejoin until the ban ends. Everyone here sees that you banned them.`,
      confirm: "Ban",
      durations: BAN_FOR,
    },
  }[action];
  const answer = await ask({ ...question, reason: true });
  if (!answer || currentSession() !== s) return;
  const { minutes, reason } = answer;
  const done =
    action === "mute"
      ? s.client.mute(user, minutes ?? 10, reason)
      : action === "kick"
        ? s.client.kick(user, reason)
        : s.client.ban(user, { minutes, reason });
  done.catch((err: unknown) => currentSession() === s && showError(explain(err)));
}

/** End a mute or a ban at once (no question: nothing is lost by it). */
function lift(s: Session, what: "mute" | "ban", user: User) {
  const done = what === "mute" ? s.client.mute(user, 0) : s.client.unban(user);
  done.catch((err: unknown) => currentSession() === s && showError(explain(err)));
}
