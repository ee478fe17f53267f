// examples/webhook-verify.ts: check a Parley webhook's signature with Web Crypto (Node, Deno, Bun, Workers).
const encoder = new TextEncoder();

/**
 * Whether `body` (the raw request body, exactly as received) was signed with `secret` no more than
 * `toleranceSec` ago (or ahead, for clock skew), by the `Parley-Signature: t=<unix seconds>,v1=<hex>` header.
 */
export async function verifyParleySignature(
  secret: string,
  header: string | null | undefined,
  body: string,
  toleranceSec = 300,
  nowSec = Date.now() / 1000,
): Promise<boolean> {
  const fields = (header ?? "").split(",").map((part) => part.trim().split("="));
  const t = fields.find(([k]) => k === "t")?.[1] ?? "";
  if (!/^\d{1,12}$/.test(t) || Math.abs(nowSec - Number(t)) > toleranceSec) return false;
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "verify",
  ]);
  for (const [k, hex] of fields) {
    if (k !== "v1" || !/^[0-9a-f]{64}$/.test(hex ?? "")) continue;
    const mac = Uint8Array.from(hex.match(/../g) ?? [], (byte) => Number.parseInt(byte, 16));
    // subtle.verify compares in constant time: never compare signatures with === or a loop that stops early.
    if (await crypto.subtle.verify("HMAC", key, mac, encoder.encode(`${t}.${body}`))) return true;
  }
  return false;
}
