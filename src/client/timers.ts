/**
 * Every timer a client starts goes through one Timers, so that a dropped socket and `close()` can end all
 * of them at once: a closed client leaves nothing behind that fires late or keeps a process alive.
 */

/** A timer started through Timers. */
export interface Timer {
  /** True until it fires or is cancelled; a cleared Timers cancels it too. */
  readonly active: boolean;
  cancel(): void;
}

/** A deadline for one call: its signal aborts when the time is up or the timers are cleared. */
export interface Deadline {
  readonly signal: AbortSignal;
  /** The call is over: stop the timer without aborting. */
  done(): void;
}

interface Entry {
  /** Stop the timer and settle whatever waits on it. */
  end(): void;
}

/** The set of a client's running timers. */
export class Timers {
  private readonly running = new Set<Entry>();

  /** Run `fn` once after `ms`, unless cancelled or cleared first. */
  after(ms: number, fn: () => void): Timer {
    const handle = setTimeout(() => {
      this.running.delete(entry);
      fn();
    }, ms);
    const entry = { end: () => clearTimeout(handle) };
    return this.track(entry);
  }

  /** Run `fn` every `ms` until cancelled or cleared. */
  every(ms: number, fn: () => void): Timer {
    const handle = setInterval(fn, ms);
    return this.track({ end: () => clearInterval(handle) });
  }

  /** Resolves after `ms`, or at once when the timers are cleared: a waiter must then look at what changed. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const handle = setTimeout(() => {
        this.running.delete(entry);
        resolve();
      }, ms);
      const entry = {
        end: () => {
          clearTimeout(handle);
          resolve();
        },
      };
      this.running.add(entry);
    });
  }

  /** A signal that aborts after `ms`, or at once when the timers are cleared, so no call outlives `close()`. */
  deadline(ms: number): Deadline {
    const controller = new AbortController();
    const handle = setTimeout(() => {
      this.running.delete(entry);
      controller.abort();
    }, ms);
    const entry = {
      end: () => {
        clearTimeout(handle);
        controller.abort();
      },
    };
    this.running.add(entry);
    return {
      signal: controller.signal,
      done: () => {
        clearTimeout(handle);
        this.running.delete(entry);
      },
    };
  }

  /** End every running timer: cancel the plain ones, settle the sleeps, abort the deadlines. */
  clear(): void {
    const all = [...this.running];
    this.running.clear();
    for (const entry of all) entry.end();
  }

  private track(entry: Entry): Timer {
    const running = this.running;
    running.add(entry);
    return {
      get active() {
        return running.has(entry);
      },
      cancel() {
        if (running.delete(entry)) entry.end();
      },
    };
  }
}
