/**
 * The room the page is in, as one value, so that a room change replaces it whole and a late answer
 * can tell it belongs to a room the page has left (`currentSession() !== s`).
 */
import type { ParleyClient, QueuedMessage, StateChange } from "../client/index.ts";

/** Everything that belongs to the room the page is in; replaced whole on a room change. */
export interface Session {
  client: ParleyClient;
  room: string;
  state: StateChange;
  queue: QueuedMessage[];
  /** Messages up to this seq came with the first welcome: history, not news, for the unread count. */
  backlogSeq: number;
  reconnectAt: number;
  loadingOlder: boolean;
  /** Whether the page joined with an access token (the welcome's `you.sub` then says it was accepted). */
  signed: boolean;
  /** The names of the users this page has seen (members, authors, actors), by id, for reaction tooltips. */
  names: Map<string, string>;
  /** Bans and mutes seen in `moderated` entries, by user id: when each ends (Infinity: until lifted). */
  banned: Map<string, number>;
  muted: Map<string, number>;
  /** The message the composer replies to, if any (reply.ts). */
  replyTo?: number;
  unsubscribe: (() => unknown)[];
}

let session: Session | undefined;

/** The room the page is in now, if any. */
export function currentSession(): Session | undefined {
  return session;
}

/** Make `s` the room the page is in (joining.ts alone calls this). */
export function setSession(s: Session | undefined): void {
  session = s;
}

/** Whether this user is a moderator in the room (the welcome's `you.role`). */
export function isModerator(s: Session | undefined): boolean {
  return s?.client.me?.role === "moderator";
}

/** Whether the connection speaks v2 (edits, reactions, replies, moderation); v1 servers do not. */
export function speaksV2(s: Session | undefined): boolean {
  return !!s && s.client.protocol !== "parley.v1";
}
