/**
 * What a closed socket means for the client (stop for good, or reconnect and how soon), and the
 * backoff between attempts. PROTOCOL.md's close-code table, from the client's side.
 */
import { CLOSE_BACKS_OFF, CLOSE_STOPS, CROWDED_RETRY_MS } from "../protocol/constants.ts";
import type { Refusal } from "./handshake.ts";
import type { ConnectOptions } from "./types.ts";

/** After a close in CLOSE_BACKS_OFF the server failed or is full: the next attempt waits at least this. */
const BACK_OFF_MS = 1000;
/**
 * A handshake refused for good: a bad room name (400), no valid access token (401 `unauthorized`), a
 * forbidden origin or room, a ban (403 `forbidden`, `banned`). Retrying gets the same answer.
 */
const REFUSED_FOR_GOOD = [400, 401, 403];
const TOO_MANY_REQUESTS = 429;
const BACKOFF_INITIAL_MS = 250;
const BACKOFF_MAX_MS = 30_000;

/** Stop for good with this code, or reconnect no sooner than `floorMs`. */
export type NextStep =
  | { stop: true; code: number; reason?: string }
  | { stop: false; code: number; reason: string; floorMs: number };

/** After an opened socket closed with `code`: a `1008` (`kicked`, `banned`, too many strikes) stops with its reason. */
export function afterClose(code: number, reason: string): NextStep {
  if (CLOSE_STOPS.includes(code)) return { stop: true, code, reason };
  // 1013: the room is full or this client fell behind; 1011: the server failed. Give it time.
  return { stop: false, code, reason, floorMs: CLOSE_BACKS_OFF.includes(code) ? BACK_OFF_MS : 0 };
}

/** After a handshake failed, with what its diagnostic GET learned (nothing, if that failed too). */
export function afterRefusal(code: number, reason: string, why: Refusal | undefined): NextStep {
  if (why && REFUSED_FOR_GOOD.includes(why.status)) return { stop: true, code: why.status, reason: why.message };
  // A 429 says how long to wait (Retry-After): the connect rate's next token, or the address's cap. A
  // server that did not say (or whose header a page on another origin cannot read) gets the cap's wait.
  const floorMs = why?.status === TOO_MANY_REQUESTS ? (why.retryAfterMs ?? CROWDED_RETRY_MS) : 0;
  return { stop: false, code, reason: why?.message ?? reason, floorMs };
}

/** The wait before attempt number `attempt` (from 0): exponential up to a cap, jittered, at least `floorMs`. */
export function backoffDelay(
  attempt: number,
  floorMs: number,
  backoff: ConnectOptions["backoff"],
  random: () => number,
): number {
  const { initialMs = BACKOFF_INITIAL_MS, maxMs = BACKOFF_MAX_MS } = backoff ?? {};
  const ceiling = Math.min(maxMs, initialMs * 2 ** attempt);
  // Full jitter over the upper half, so a server restart is not met by every client at once.
  return Math.max(floorMs, Math.round(ceiling * (0.5 + random() / 2)));
}
