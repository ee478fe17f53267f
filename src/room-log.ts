/**
 * A room's log: the numbering of its entries, what this turn's uncommitted entries have changed (so the
 * rules see it before the commit), the group commit, and the fan-out of each entry after it. One log per
 * room, so the room stays the single source of order: a message, an edit, a reaction and a ban are all
 * numbered, committed and sent the same way.
 */
import { type Draft, LogRules, type Outcome, type Refusal, type RoomView } from "./actions.ts";
import type { Config } from "./config.ts";
import type { Fanout } from "./fanout.ts";
import { log } from "./log.ts";
import type { Members } from "./members.ts";
import { meter } from "./metrics.ts";
import { errorFrame } from "./outgoing.ts";
import { CLOSE, type Entry, type Message, type User } from "./protocol/index.ts";
import type { Connection } from "./session.ts";
import type { CommitChanges, Sanctions, Store } from "./store/store.ts";

/** Run a function later in this turn of the event loop, or now. */
export type Defer = (fn: () => void) => void;

/** The HTTP API as an actor (PROTOCOL-v2 section 4). */
export const API_USER: User = { id: "api", name: "api", bot: true };

/** The connection of an entry that no socket sent (the HTTP API): nothing to ack. */
const NOBODY: Connection = {
  send: () => {},
  close: () => {},
  bufferedAmount: () => 0,
  load: () => undefined,
  save: () => {},
};

/** What the application's backend writes to a room (PROTOCOL-v2 section 4). */
export interface ApiWrites {
  /** A message from the backend, as `by` (a bot user): its seq once committed, or a refusal. */
  post(by: User, text: string, ref?: string, replyTo?: number): number | Refusal;
  /** What the backend asks for (a delete, a moderation): the entry's seq, undefined for no change, or a refusal. */
  apply(decide: (rules: LogRules, now: number) => Outcome): number | undefined | Refusal;
}

/** An entry taken in, numbered, and waiting for its batch to commit. */
interface Uncommitted {
  conn: Connection;
  entry: Entry;
  draft?: Draft;
}

/** What a log is built with: the room's store, configuration, members and way out. */
export interface LogOptions {
  room: string;
  store: Store;
  config: Config;
  members: Members;
  fanout: Fanout;
  now: () => number;
  defer: Defer;
  /** After each commit: the room has entries for its webhook deliveries. */
  committed?: (room: string) => void;
}

/** The log of one room. */
export class RoomLog implements RoomView, ApiWrites {
  /** The last committed seq: what a welcome or the room API reports. */
  seq: number;
  readonly rules: LogRules;
  /** Entries numbered past `seq`, to be committed together and only then sent (group commit). */
  private uncommitted: Uncommitted[] = [];
  /** Folded messages as this turn's uncommitted entries leave them (new, edited, deleted, reacted). */
  private readonly pendingFolds = new Map<number, Message>();
  /** The room's bans and mutes, as the uncommitted entries leave them. */
  private sanctioned: Sanctions;

  constructor(private readonly o: LogOptions) {
    this.seq = o.store.meta(o.room).seq;
    this.sanctioned = o.store.sanctions(o.room, o.now());
    this.rules = new LogRules(this, o.config);
  }

  // ---- RoomView: what the rules read ------------------------------------------------------------

  message(seq: number): Message | undefined {
    return this.pendingFolds.get(seq) ?? this.o.store.message(this.o.room, seq);
  }

  user(uid: string): User | undefined {
    const present = this.o.members.user(uid);
    if (present) return { ...present.user };
    const stored = this.o.store.userById(this.o.room, uid);
    return stored && { id: stored.id, name: stored.name, ...(stored.sub !== undefined && { sub: stored.sub }) };
  }

  mutedUntil(uid: string, now: number): number | null | undefined {
    const until = this.sanctioned.mutes.get(uid);
    return until === undefined || (until !== null && until <= now) ? undefined : until;
  }

  isBanned(uid: string, now: number): boolean {
    const until = this.sanctioned.bans.get(uid);
    return until !== undefined && (until === null || until > now);
  }

  groupsOf(uid: string): string[] {
    return this.o.members.groupsOf(uid);
  }

  // ---- taking entries in ----------------------------------------------------------------------

  /** Number a message and queue it for the group commit. */
  say(conn: Connection, by: User, now: number, text: string, ref?: string, replyTo?: number): void {
    const seq = this.seq + this.uncommitted.length + 1;
    const message: Message & { by: User } = { type: "message", seq, ts: now, by, from: by, text };
    if (ref !== undefined) message.ref = ref;
    if (replyTo !== undefined) message.replyTo = replyTo;
    const { by: _by, ...fold } = message;
    this.pendingFolds.set(seq, fold);
    this.queue({ conn, entry: message });
  }

  /** Number what a v2 frame makes and queue it; the rules already allowed it. */
  append(conn: Connection, by: User, now: number, ref: string | undefined, draft: Draft): void {
    const seq = this.seq + this.uncommitted.length + 1;
    const entry = { ...draft.fields, seq, ts: now, by, ...(ref !== undefined && { ref }) } as Entry;
    if (draft.fold) this.pendingFolds.set(draft.fold.seq, draft.fold);
    const change = draft.sanction;
    if (change) {
      const map = change.kind === "ban" ? this.sanctioned.bans : this.sanctioned.mutes;
      if (change.lift) map.delete(change.user);
      else map.set(change.user, change.until ?? null);
    }
    this.queue({ conn, entry, draft });
  }

  private queue(item: Uncommitted): void {
    this.uncommitted.push(item);
    if (this.uncommitted.length === 1) this.o.defer(() => this.commit());
  }

  /**
   * Commit every pending entry in one transaction, then send them. One commit per batch instead of per
   * entry is most of what SQLite costs here, and nobody sees an entry before its commit.
   */
  commit(): void {
    if (this.uncommitted.length === 0) return;
    const { store, room, config, fanout, members } = this.o;
    const batch = this.uncommitted;
    this.uncommitted = [];
    const changes = this.changesOf(batch);
    changes.outbox = config.webhook !== undefined;
    this.pendingFolds.clear();
    const started = performance.now();
    try {
      store.appendAll(
        room,
        batch.map((p) => p.entry),
        config.historyLimit,
        changes,
      );
    } catch (err) {
      for (const id of changes.posters ?? []) {
        const present = members.user(id);
        if (present) present.posted = false;
      }
      this.sanctioned = store.sanctions(room, this.o.now());
      log.error("commit_failed", { room, count: batch.length, error: (err as Error).message });
      for (const { conn, entry } of batch) {
        fanout.send(conn, errorFrame("internal", "the entry could not be stored", entry.ref));
      }
      return;
    }
    this.seq = batch[batch.length - 1].entry.seq;
    meter.observe("commit_seconds", (performance.now() - started) / 1000);
    meter.observe("commit_batch_size", batch.length);
    for (const { entry } of batch) meter.count("entries", { kind: entry.type });
    this.o.committed?.(room);
    for (const { conn, entry, draft } of batch) {
      fanout.entry(entry);
      if (entry.ref !== undefined) fanout.send(conn, JSON.stringify({ type: "ack", ref: entry.ref, seq: entry.seq }));
      // A kicked or banned user sees the entry that says so, then their connections close.
      const close = draft?.closeUser;
      if (close) for (const c of members.of(close.uid)) c.close(CLOSE.policy, close.reason);
    }
  }

  /** What a batch changes besides its entries: folds, erasures, sanctions, users named for the first time. */
  private changesOf(batch: Uncommitted[]): CommitChanges {
    const posters = new Set<string>();
    const folds = new Map<number, Message>();
    const erased: number[] = [];
    const sanctions = [];
    for (const { entry, draft } of batch) {
      for (const id of draft?.named ?? [entry.by.id]) {
        const present = this.o.members.user(id);
        if (!present?.posted) posters.add(id);
        if (present) present.posted = true;
      }
      if (draft?.fold) folds.set(draft.fold.seq, draft.fold);
      if (draft?.erase !== undefined) erased.push(draft.erase);
      if (draft?.sanction) sanctions.push(draft.sanction);
    }
    return { posters: [...posters], folds: [...folds.values()], erased, sanctions };
  }

  // ---- ApiWrites: entries no socket sent, each committed before its answer -----------------------

  post(by: User, text: string, ref?: string, replyTo?: number): number | Refusal {
    this.commit();
    const refused = replyTo !== undefined ? this.rules.replyTo(replyTo) : undefined;
    if (refused) return refused;
    this.say(NOBODY, by, this.o.now(), text, ref, replyTo);
    return this.committed();
  }

  apply(decide: (rules: LogRules, now: number) => Outcome): number | undefined | Refusal {
    this.commit();
    const now = this.o.now();
    const outcome = decide(this.rules, now);
    if ("code" in outcome) return outcome;
    if (!("fields" in outcome)) return undefined;
    this.append(NOBODY, API_USER, now, undefined, outcome);
    return this.committed();
  }

  /** Commit what was just taken in; its seq, or a throw when the store failed (the API answers 500). */
  private committed(): number {
    const before = this.seq;
    this.commit();
    if (this.seq === before) throw new Error("the entry could not be stored");
    return this.seq;
  }
}
