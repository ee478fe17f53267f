/**
 * Filling a gap the server could not replay: after a resume whose welcome starts past the last `seq`
 * delivered, the missing messages are paged with `history`, and every newer frame waits until they are
 * delivered, so that messages still arrive once and in `seq` order.
 */
import { HISTORY_PAGE_MAX } from "../protocol/constants.ts";
import type { HistoryPage, Message, ServerFrame } from "../protocol/index.ts";
import { isRateLimited } from "./errors.ts";
import type { Requests } from "./requests.ts";
import type { Timers } from "./timers.ts";

/** Pages one gap at a time and defers the frames that arrive meanwhile. */
export class GapFiller {
  /** Frames that arrived while a gap was being paged; delivered once it is filled. */
  private deferred?: ServerFrame[];

  constructor(
    private readonly requests: Requests,
    private readonly timers: Timers,
    private readonly history: (before: number, limit: number) => Promise<HistoryPage>,
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
   * The messages with `after < seq < before`, oldest first. Throws when the connection is lost meanwhile
   * (`current` turns false): the next welcome starts over.
   */
  async fill(before: number, after: number, current: () => boolean): Promise<Message[]> {
    this.deferred = [];
    const pages: Message[][] = [];
    while (before > after + 1) {
      let page: HistoryPage;
      try {
        page = await this.history(before, HISTORY_PAGE_MAX);
      } catch (err) {
        // Each page takes a rate token, so a long gap can empty the bucket: wait for one, ask again.
        if (!isRateLimited(err)) throw err;
        await this.timers.sleep(err.retryAfterMs ?? 1000);
        // Another connection's welcome pages the gap for itself.
        if (!current()) throw err;
        continue;
      }
      const messages = page.messages.filter((m) => m.seq > after);
      pages.unshift(messages);
      if (!page.more || page.messages.length === 0 || messages.length < page.messages.length) break;
      before = page.messages[0].seq;
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
