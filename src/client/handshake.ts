/** The socket's address for a room, and what to do when its handshake fails. */
import type { HttpError } from "../protocol/index.ts";
import type { Timers } from "./timers.ts";

/** A handshake not open by then is given up and retried (`connectTimeoutMs` overrides it). */
export const CONNECT_TIMEOUT_MS = 15_000;
/** A refused handshake's diagnostic GET gives up after this long. */
const DIAGNOSE_MS = 5000;

/** Where a client stands in a room when it opens a socket. */
export interface Position {
  name?: string;
  token?: string;
  epoch?: string;
  seq: number;
}

/** The path of a room's socket, the same for the upgrade and its diagnostic GET. */
export function socketPath(room: string): string {
  return `/rooms/${encodeURIComponent(room)}/ws`;
}

/**
 * A room's socket URL under `base` (ws:// for the upgrade, http:// for its diagnostic GET) with the join
 * query, and the access token when given (the upgrade's only way to carry one in a browser).
 */
export function socketUrl(base: string, room: string, query: URLSearchParams, accessToken?: string): string {
  const q = new URLSearchParams(query);
  if (accessToken) q.set("access_token", accessToken);
  const search = q.toString();
  return `${base}${socketPath(room)}${search ? `?${search}` : ""}`;
}

/** The upgrade's query: who this is, and where to resume from. */
export function joinQuery(at: Position): URLSearchParams {
  const q = new URLSearchParams();
  if (at.name) q.set("name", at.name);
  if (at.token) q.set("token", at.token);
  // Once an epoch is known even `since=0` is a resume: a client that saw an empty room must still get
  // everything posted while it was away, not just the welcome's last 50.
  if (at.epoch) {
    q.set("since", String(at.seq));
    q.set("epoch", at.epoch);
  }
  return q;
}

/** A refused handshake's cause: the HTTP status, the server's reason if it sent one, and its `Retry-After`. */
export interface Refusal {
  status: number;
  message?: string;
  retryAfterMs?: number;
}

/**
 * Why a handshake failed. The WebSocket API hides the upgrade's answer, but a plain GET of the same URL
 * answers the same status, with the reason as JSON. Undefined when that GET fails too. An access token
 * goes as `Authorization: Bearer`, as the upgrade's `?access_token=` would have been read.
 */
export async function diagnose(
  url: string,
  fetcher: typeof fetch | undefined,
  timers: Timers,
  accessToken?: string,
): Promise<Refusal | undefined> {
  if (!fetcher) return undefined;
  // A deadline from the client's timers, so that close() aborts the GET instead of leaving it out.
  const deadline = timers.deadline(DIAGNOSE_MS);
  const init: RequestInit = { signal: deadline.signal };
  if (accessToken) init.headers = { authorization: `Bearer ${accessToken}` };
  try {
    const res = await fetcher(url, init);
    const body = (await res.json().catch(() => undefined)) as HttpError | undefined;
    // Whole seconds (PROTOCOL-v2 section 5); readable across origins only where the server exposes it.
    const retryAfter = Number(res.headers.get("retry-after"));
    const retryAfterMs = retryAfter > 0 ? retryAfter * 1000 : undefined;
    return { status: res.status, message: body?.error?.message, retryAfterMs };
  } catch {
    return undefined;
  } finally {
    deadline.done();
  }
}
