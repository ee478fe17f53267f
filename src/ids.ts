/**
 * Random identifiers: reconnect tokens, epochs, connection ids and private room names. Web Crypto's
 * `getRandomValues` is on every runtime Parley runs on.
 */

/** `bytes` random bytes (default 16: 128 bits) as lowercase hex. */
export function randomHex(bytes = 16): string {
  const buf = crypto.getRandomValues(new Uint8Array(bytes));
  let out = "";
  for (const b of buf) out += b.toString(16).padStart(2, "0");
  return out;
}
