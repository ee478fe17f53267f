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
