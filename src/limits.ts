/**
 * The abuse limits that sit before a room (PROTOCOL-v2 section 5): address groups, token buckets keyed
 * by group, and the per-group connection slots. Runtime-agnostic: a process keeps them in memory, a
 * Durable Object rebuilds them from its sockets' tags.
 */

/** A token bucket's state: tokens left at `at` (ms). */
export interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Take one token from a bucket of `burst` tokens that refills `perSec` a second. Returns 0 when one was
 * taken, else the milliseconds until one will be there.
 */
export function takeFrom(bucket: Bucket, now: number, burst: number, perSec: number): number {
  const tokens = Math.min(burst, bucket.tokens + Math.max(0, ((now - bucket.at) / 1000) * perSec));
  bucket.at = now;
  if (tokens >= 1) {
    bucket.tokens = tokens - 1;
    return 0;
  }
  bucket.tokens = tokens;
  return Math.ceil(((1 - tokens) / perSec) * 1000);
}

/**
 * The address group a client address counts in: an IPv4 address as it is (an IPv4-mapped IPv6 address
 * counts as its IPv4 address), an IPv6 address by its /64, since one subscriber commonly holds a whole
 * /64 and could otherwise take a fresh address for every connection.
 */
export function addressGroup(address: string): string {
  const ip = address
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, "");
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(ip);
  if (mapped) return mapped[1];
  if (!ip.includes(":")) return ip;
  const zone = ip.indexOf("%");
  const bare = zone >= 0 ? ip.slice(0, zone) : ip;
  const [head, tail = ""] = bare.split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  // An embedded IPv4 tail (::1.2.3.4) is two groups, but only the first four groups matter here.
  const missing = 8 - left.length - right.length;
  const groups = bare.includes("::") ? [...left, ...Array(Math.max(0, missing)).fill("0"), ...right] : left;
  const prefix = groups.slice(0, 4).map((g) => (Number.parseInt(g, 16) || 0).toString(16));
  while (prefix.length < 4) prefix.push("0");
  return `${prefix.join(":")}::/64`;
}

/**
 * Token buckets keyed by address group, for the connect rate. A bucket that has refilled to full is
 * the same as no bucket, so those are dropped now and then and memory stays bounded by the groups
 * that were active within one refill time.
 */
export class KeyedLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private prunedAt = 0;
  constructor(
    private readonly burst: number,
    private readonly perSec: number,
  ) {}

  /** Take a token for `key`: 0 when allowed, else the milliseconds until it would be. */
  take(key: string, now: number): number {
    this.prune(now);
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = { tokens: this.burst, at: now };
      this.buckets.set(key, bucket);
    }
    return takeFrom(bucket, now, this.burst, this.perSec);
  }

  /** Buckets held now (for tests). */
  get size(): number {
    return this.buckets.size;
  }

  private prune(now: number): void {
    const fullAfterMs = (this.burst / this.perSec) * 1000;
    if (now - this.prunedAt < Math.min(fullAfterMs, 60_000)) return;
    this.prunedAt = now;
    for (const [key, b] of this.buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.perSec >= this.burst) this.buckets.delete(key);
    }
  }
}

/** A connection slot taken for an address group at the upgrade check. */
export interface Slot {
  /** The socket opened and joined: the slot now counts until `release`. */
  claim(): void;
  /** Give the slot back (a refused join, a closed socket, or a handshake that never opened). */
  release(): void;
}

/**
 * Open connections per address group, counted from the moment the upgrade is checked, not from when the
 * socket opens a turn later: otherwise a burst of simultaneous handshakes all pass the check before any
 * of them counts. A slot that is never claimed (the handshake failed below the app) is given back after
 * `claimWithinMs`.
 */
export class AddressSlots {
  private readonly open = new Map<string, number>();
  constructor(private readonly claimWithinMs = 30_000) {}

  /** Connections counted for `group` now. */
  count(group: string): number {
    return this.open.get(group) ?? 0;
  }

  /** Take a slot for `group`, or undefined when it already holds `cap` (0: no cap). */
  take(group: string, cap: number): Slot | undefined {
    if (cap > 0 && this.count(group) >= cap) return undefined;
    this.add(group, 1);
    let state: "taken" | "claimed" | "released" = "taken";
    const timer = setTimeout(() => {
      if (state === "taken") slot.release();
    }, this.claimWithinMs);
    // A pending expiry must not keep a stopping process alive.
    (timer as { unref?: () => void }).unref?.();
    const slot: Slot = {
      claim: () => {
        if (state === "taken") state = "claimed";
        clearTimeout(timer);
      },
      release: () => {
        if (state === "released") return;
        state = "released";
        clearTimeout(timer);
        this.add(group, -1);
      },
    };
    return slot;
  }

  /** Give back the slot of a claimed connection that closed. */
  free(group: string): void {
    this.add(group, -1);
  }

  private add(group: string, delta: number): void {
    const n = this.count(group) + delta;
    if (n > 0) this.open.set(group, n);
    else this.open.delete(group);
  }
}
