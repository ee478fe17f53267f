/**
 * The application's access token for one connect (PROTOCOL-v2 section 2): a string, or a function the
 * client calls before every connect so that a short-lived token is fresh on each reconnect.
 */
import type { Timers } from "./timers.ts";
import type { AccessToken } from "./types.ts";

/**
 * The token for the next connect: at once when there is none, it is a string, or the function returns
 * one; else a promise that rejects when the function throws or rejects, or after `ms` (on the client's
 * timers, so `close()` leaves nothing behind; the promise then never settles, and nobody waits for it).
 */
function accessToken(
  option: AccessToken | undefined,
  timers: Timers,
  ms: number,
): string | undefined | Promise<string> {
  if (typeof option !== "function") return option;
  let value: string | Promise<string>;
  try {
    value = option();
  } catch (err) {
    return Promise.reject(err);
  }
  if (typeof value === "string") return value;
  return new Promise<string>((resolve, reject) => {
    const timer = timers.after(ms, () => reject(new Error(`no access token after ${ms} ms`)));
    Promise.resolve(value).then(
      (token) => {
        timer.cancel();
        resolve(token);
      },
      (err) => {
        timer.cancel();
        reject(err);
      },
    );
  });
}

/**
 * Call `open` with the token for the next connect, at once when it can; or `failed` with the reason (as
 * the `reconnecting` state will say it) when there is none in time. After `close()`, `stopped` is true
 * and neither is called.
 */
export function withAccessToken(
  option: AccessToken | undefined,
  timers: Timers,
  ms: number,
  stopped: () => boolean,
  open: (token: string | undefined) => void,
  failed: (reason: string) => void,
): void {
  const token = accessToken(option, timers, ms);
  if (!(token instanceof Promise)) return open(token);
  token.then(
    (t) => stopped() || open(t),
    (err) => stopped() || failed(`no access token: ${err instanceof Error ? err.message : String(err)}`),
  );
}
