/**
 * Webhooks (PROTOCOL-v2 section 4): every entry of a room, in `seq` order and at least once, posted to
 * the application's URL and signed. The outbox is the store's: an entry's outbox row is written in the
 * same transaction as the entry, so a pending delivery survives a kill -9, and a delivery reads the log
 * as it is then (a deleted message's text is already ""). One delivery is in flight per room, and
 * nothing here is on a room's path: a commit only says that a room has something new, so a slow or dead
 * endpoint never delays a message. A process schedules retries with timers; a Durable Object with its
 * alarm (which does not keep it awake).
 */
import { log } from "./log.ts";
import { meter } from "./metrics.ts";
import type { Store } from "./store/store.ts";

/** Entries in one delivery, at most. */
export const BATCH = 100;
/** A delivery not answered by then counts as failed. */
const TIMEOUT_MS = 10_000;
/** The longest wait between two tries. */
const MAX_BACKOFF_MS = 10 * 60_000;

export interface WebhookConfig {
  url: string;
  secret: string;
  /** The first retry's delay; each later one doubles, with jitter, up to 10 minutes. */
  retryMs: number;
}

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, with the secret's key made once. */
export async function signature(key: CryptoKey, body: string, t: number): Promise<string> {
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${t}.${body}`));
  let hex = "";
  for (const b of new Uint8Array(mac)) hex += b.toString(16).padStart(2, "0");
  return `t=${t},v1=${hex}`;
}

/** The HMAC-SHA256 key of a webhook secret. */
export function hmacKey(secret: string): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
}

/** The wait before try number `attempt` (1 = the first retry): doubling from `retryMs`, jittered, capped. */
export function backoff(retryMs: number, attempt: number, random = Math.random): number {
  const ceiling = Math.min(MAX_BACKOFF_MS, retryMs * 2 ** Math.max(0, attempt - 1));
  // Jitter over the upper half, so that the rooms of one restart do not retry in step.
  return Math.round(ceiling * (0.5 + random() / 2));
}

/** Delivers one store's rooms to one endpoint. */
export class Deliverer {
  private key: Promise<CryptoKey> | undefined;
  /** Failed tries in a row, per room: the next wait doubles with each. */
  private readonly attempts = new Map<string, number>();
  private readonly inFlight = new Set<string>();

  constructor(
    private readonly store: Store,
    private readonly config: WebhookConfig,
    // Called as a plain function: workerd's fetch throws "Illegal invocation" when called as a method.
    private readonly fetcher: (url: string, init: RequestInit) => Promise<Response> = (url, init) => fetch(url, init),
  ) {}

  /**
   * Deliver what `room` has waiting, batch after batch, until it is all acknowledged or a try fails.
   * Resolves with the wait before the next try after a failure, or undefined when nothing is left (or
   * a delivery for the room is already under way).
   */
  async drain(room: string): Promise<number | undefined> {
    if (this.inFlight.has(room)) return undefined;
    this.inFlight.add(room);
    try {
      for (;;) {
        const entries = this.store.undelivered(room, BATCH);
        if (entries.length === 0) {
          this.attempts.delete(room);
          return undefined;
        }
        if (!(await this.post(room, entries))) {
          const attempt = (this.attempts.get(room) ?? 0) + 1;
          this.attempts.set(room, attempt);
          return backoff(this.config.retryMs, attempt);
        }
        this.attempts.delete(room);
        meter.count("webhook_deliveries");
        this.store.delivered(room, entries[entries.length - 1].seq);
      }
    } finally {
      this.inFlight.delete(room);
    }
  }

  /** One signed POST; true on a 2xx. Never throws: a failure is a retry. */
  private async post(room: string, entries: { seq: number }[]): Promise<boolean> {
    const epoch = this.store.peek(room).epoch;
    const body = JSON.stringify({ room, epoch, entries });
    try {
      this.key ??= hmacKey(this.config.secret);
      const sig = await signature(await this.key, body, Math.floor(Date.now() / 1000));
      const res = await this.fetcher(this.config.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "parley-signature": sig,
          "parley-delivery": `${room}:${epoch}:${entries[0].seq}`,
        },
        body,
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      await res.body?.cancel();
      if (res.ok) return true;
      log.warn("webhook_failed", { room, status: res.status });
    } catch (err) {
      // The URL is configuration, not a secret, but a receiver's error text is not ours to log.
      log.warn("webhook_failed", { room, error: (err as Error).name });
    }
    meter.count("webhook_failures");
    return false;
  }
}

/** A process's delivery worker: drains a room when it has news, and retries with timers. */
export class WebhookWorker {
  private readonly deliverer: Deliverer;
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();
  private stopped = false;

  constructor(store: Store, config: WebhookConfig, fetcher?: (url: string, init: RequestInit) => Promise<Response>) {
    this.deliverer = new Deliverer(store, config, fetcher);
    // After a restart, what was pending is tried again within the first retry delay.
    for (const room of store.roomsUndelivered()) this.later(room, Math.random() * config.retryMs);
  }

  /**
   * A commit in `room`: deliver what it made as soon as this turn is over, unless a retry is already
   * waiting (its backoff stands: a burst of entries must not turn into a burst of tries).
   */
  notify(room: string): void {
    if (this.timers.has(room) || this.stopped) return;
    this.later(room, 0);
  }

  private later(room: string, ms: number): void {
    const pending = this.timers.get(room);
    if (pending) clearTimeout(pending);
    const timer = setTimeout(() => {
      this.timers.delete(room);
      void this.run(room);
    }, ms);
    (timer as { unref?: () => void }).unref?.();
    this.timers.set(room, timer);
  }

  private async run(room: string): Promise<void> {
    if (this.stopped) return;
    const retry = await this.deliverer.drain(room);
    if (retry !== undefined && !this.stopped) this.later(room, retry);
  }

  /** Stop retrying (a graceful stop); what is pending stays in the outbox for the next start. */
  stop(): void {
    this.stopped = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }
}
