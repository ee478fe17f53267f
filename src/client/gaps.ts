/**
 * Filling a gap the server could not replay: after a resume whose welcome starts past the last `seq`
 * delivered, the missing entries are paged with `history`, and every newer frame waits until they are
 * delivered, so that entries still arrive once and in `seq` order. A `parley.v2` connection pages raw
 * entries (`entries:true`): folded pages would miss the edits, deletions and reactions made since to
 * older messages, and every entry that is not a message.
 */
import { HISTORY_PAGE_MAX } from "../protocol/constants.ts";
import type { EntriesPage, Entry, HistoryPage, Message, ServerFrame, WelcomeFrame } from "../protocol/index.ts";
import { isRateLimited } from "./errors.ts";
import type { Requests } from "./requests.ts";
import type { Timers } from "./timers.ts";

/** A gap to page: everything after the last `seq` delivered and before `before`, raw (`entries`) or folded. */
export interface Gap {
  before: number;
  entries: boolean;
}

/**
 * What a welcome left out of the entries after `from` (the last `seq` delivered in its epoch; undefined
 * for a fresh join, whose folded `messages` seed the view). A v2 connection pages raw entries up to the
 * welcome's `seq`, in place of its folded messages: those miss what was done since to older messages,
 * and every entry that is not a message. A v1 connection pages messages up to the welcome's first one.
 */
export function gapAfter(w: WelcomeFrame, from: number | undefined, v2: boolean): Gap | undefined {
  if (w.resumed || from === undefined) return undefined;
  if (v2) return w.seq > from ? { before: w.seq + 1, entries: true } : undefined;
  const first = w.messages[0];
  return first && first.seq > from + 1 ? { before: first.seq, entries: false } : undefined;
}

/** Pages one gap at a time and defers the frames that arrive meanwhile. */
export class GapFiller {
  /** Frames that arrived while a gap was being paged; delivered once it is filled. */
  private deferred?: ServerFrame[];

  constructor(
    private readonly requests: Requests,
    private readonly timers: Timers,
  ) {}

  /** Keep `frame` for later if a gap is being filled; the paging's own answers never wait. */
  defer(frame: ServerFrame): boolean {
    if (!this.deferred) return false;
    const answer = frame.type === "history" || (frame.type === "error" && this.requests.has(frame.ref));
    if (answer) return false;
    this.deferred.push(frame);
    return true;
  }

  /**
   * The entries (or, for a folded gap, the messages) with `after < seq < gap.before`, oldest first.
   * Throws when the connection is lost meanwhile (`current` turns false): the next welcome starts over.
   */
  async fill(gap: Gap, after: number, current: () => boolean): Promise<(Message | Entry)[]> {
    this.deferred = [];
    const pages: (Message | Entry)[][] = [];
    const entries = gap.entries ? { entries: true } : {};
    let before = gap.before;
    while (before > after + 1) {
      let page: HistoryPage | EntriesPage;
      try {
        const limit = HISTORY_PAGE_MAX;
        page = await this.requests.ask("h", (ref) => ({ type: "history", before, limit, ...entries, ref }));
      } catch (err) {
        // Each page takes a rate token, so a long gap can empty the bucket: wait for one, ask again.
        if (!isRateLimited(err)) throw err;
        await this.timers.sleep(err.retryAfterMs ?? 1000);
        // Another connection's welcome pages the gap for itself.
        if (!current()) throw err;
        continue;
      }
      // A server that does not know `entries` answers with folded messages: take what came.
      const items: (Message | Entry)[] = "entries" in page ? page.entries : page.messages;
      const wanted = items.filter((m) => m.seq > after);
      pages.unshift(wanted);
      if (!page.more || items.length === 0 || wanted.length < items.length) break;
      before = items[0].seq;
    }
    return pages.flat();
  }

  /** The gap is filled (or there was none): the deferred frames, to deliver now. */
  release(): ServerFrame[] {
    const frames = this.deferred ?? [];
    this.deferred = undefined;
    return frames;
  }

  /** The socket dropped: the deferred frames belong to it. */
  dropped(): void {
    this.deferred = undefined;
  }
}
