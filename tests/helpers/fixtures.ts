/**
 * What tests make up: room names no other test uses, client addresses, and `say` frames.
 */

let lastRoom = 0;
/** A room name no other test of this process has had: `<prefix>-<pid>-<n>` (a valid room name for prefixes of A–Z a–z 0–9 - _). */
export function freshRoom(prefix = "room"): string {
  return `${prefix}-${process.pid}-${++lastRoom}`;
}

let lastAddress = 0;
/** A client address no other caller in this process has had (10.0.0.1 onwards). */
export function nextAddress(): string {
  lastAddress++;
  return `10.${(lastAddress >> 16) & 255}.${(lastAddress >> 8) & 255}.${lastAddress & 255}`;
}

/**
 * Headers that make a connection come from `ip`: X-Forwarded-For for a server with PARLEY_TRUST_PROXY,
 * CF-Connecting-IP for Workers (wrangler dev passes it through).
 */
export function fromAddress(ip: string): Record<string, string> {
  return { "x-forwarded-for": ip, "cf-connecting-ip": ip };
}

/** A `say` frame, as an object (a test client's `send` serializes it). */
export function say(text: string, ref?: string): { type: "say"; text: string; ref?: string } {
  return { type: "say", text, ...(ref !== undefined && { ref }) };
}

/** A `say` frame as the JSON text that goes on the wire, for tests that build or splice raw bytes. */
export function sayJson(text: string, ref?: string): string {
  return JSON.stringify(say(text, ref));
}
