/**
 * Server frames that take more than a `JSON.stringify` to build: the byte-capped `welcome`, errors,
 * and answers that echo a request's `ref`.
 */
import type { Config } from "./config.ts";
import type { UserPage } from "./members.ts";
import {
  type Entry,
  type ErrorCode,
  type ErrorFrame,
  type Message,
  type MessagePage,
  PAGE_MAX_BYTES,
  type User,
  type WelcomeFrame,
} from "./protocol/index.ts";
import type { JoinRequest } from "./room.ts";
import { type SessionRecord, userOf } from "./session.ts";
import { fitFirst } from "./store/log.ts";
import type { Store } from "./store/store.ts";
import { utf8Length } from "./text.ts";

/** Where the room stands as a connection joins it. */
export interface RoomState {
  room: string;
  epoch: string;
  seq: number;
  members: User[];
  /** The latest page of folded messages within `budget` bytes (the room caches it between commits). */
  latest(budget: number): MessagePage;
}

/**
 * The welcome for a new member, at most PAGE_MAX_BYTES of JSON: its messages are a replay when the
 * client can resume and the replay fits, else the latest page, cut at its oldest end to fit.
 */
export function welcomeFrame(
  store: Store,
  config: Config,
  at: RoomState,
  req: JoinRequest,
  record: SessionRecord,
  users?: UserPage,
): string {
  const frame: WelcomeFrame = {
    type: "welcome",
    room: at.room,
    epoch: at.epoch,
    you: userOf(record),
    token: record.token,
    members: at.members,
    messages: [],
    resumed: false,
    seq: at.seq,
  };
  if (users) {
    frame.memberCount = users.count;
    if (users.next !== undefined) frame.membersNext = users.next;
  }
  // What the frame takes besides its messages, and room for `"more":true`.
  const budget = PAGE_MAX_BYTES - utf8Length(JSON.stringify(frame)) - 16;
  const replay = replayFor(store, config, at, req, budget, record.v === 2);
  if (replay) {
    frame.messages = replay;
    frame.resumed = true;
  } else {
    const page = at.latest(budget);
    frame.messages = page.messages;
    // A welcome says `more` only when it was cut, so that v1 frames stay as they were.
    if (page.messages.length < config.welcomeMessages && page.more) frame.more = true;
  }
  return JSON.stringify(frame);
}

/** Every message after the client's `since`, when it can resume and they fit in `budget` bytes. */
function replayFor(
  store: Store,
  config: Config,
  at: RoomState,
  req: JoinRequest,
  budget: number,
  v2: boolean,
): Message[] | Entry[] | undefined {
  const { since, epoch } = req;
  if (since === undefined || epoch !== at.epoch || since > at.seq || at.seq - since > config.resumeWindow) {
    return undefined;
  }
  const oldest = store.oldestSeq(at.room) ?? at.seq + 1;
  if (since < oldest - 1) return undefined;
  // A v2 connection is replayed every entry of every kind; a v1 one, message entries only.
  const replay: Message[] | Entry[] = v2 ? store.entriesAfter(at.room, since) : store.after(at.room, since);
  // A replay that does not fit is answered as a failed resume: the client pages the gap itself.
  return fitFirst([...replay].reverse(), budget) === replay.length ? replay : undefined;
}

/**
 * The latest page of messages for fresh welcomes. Every join of a storm would read the same page from
 * SQLite, so it is kept until a commit moves the log's `seq`. A page that the byte budget cut is not
 * reused: a welcome with less room (a longer member list) needs it cut further.
 */
export class LatestPage {
  private kept?: { seq: number; page: MessagePage; whole: boolean; bytes: number };

  constructor(
    private readonly store: Store,
    private readonly room: string,
    private readonly limit: number,
  ) {}

  /** The newest `limit` messages as of `seq`, in at most `budget` bytes of JSON. */
  get(seq: number, budget: number): MessagePage {
    const kept = this.kept;
    if (kept && kept.seq === seq && kept.whole && kept.bytes <= budget) return kept.page;
    const page = this.store.history(this.room, this.limit, undefined, budget);
    const whole = !page.more || page.messages.length >= this.limit;
    this.kept = { seq, page, whole, bytes: utf8Length(JSON.stringify(page.messages)) };
    return page;
  }
}

/** Serialize a frame, with the request's `ref` when it had one. */
export function withRef(frame: object, ref: string | undefined): string {
  return JSON.stringify(ref === undefined ? frame : { ...frame, ref });
}

/** Serialize an `error` frame. */
export function errorFrame(code: ErrorCode, message: string, ref?: string, retryAfterMs?: number): string {
  const frame: ErrorFrame = { type: "error", code, message };
  if (ref !== undefined) frame.ref = ref;
  if (retryAfterMs !== undefined) frame.retryAfterMs = retryAfterMs;
  return JSON.stringify(frame);
}
