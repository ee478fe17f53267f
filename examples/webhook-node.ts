// examples/webhook-node.ts: the same receiver with Node's http and crypto alone.
import { createHmac, timingSafeEqual } from "node:crypto";
import http from "node:http";

/** Whether `body` was signed with `secret` less than 5 minutes ago, by the `Parley-Signature` header. */
export function verify(secret: string, header: string | undefined, body: Buffer, nowSec = Date.now() / 1000) {
  const fields = (header ?? "").split(",").map((part) => part.trim().split("="));
  const t = fields.find(([k]) => k === "t")?.[1] ?? "";
  if (!/^\d{1,12}$/.test(t) || Math.abs(nowSec - Number(t)) > 300) return false;
  const expected = createHmac("sha256", secret).update(`${t}.`).update(body).digest();
  return fields.some(([k, hex]) => {
    const given = Buffer.from(k === "v1" && /^[0-9a-f]{64}$/.test(hex ?? "") ? hex : "", "hex");
    return given.length === expected.length && timingSafeEqual(given, expected); // constant time
  });
}

type Entry = { type: string; seq: number; [field: string]: unknown };

/** A server that calls `onEntry` once per entry, in `seq` order per room. */
export function receiver(secret: string, onEntry: (room: string, entry: Entry) => void | Promise<void>) {
  const handled = new Map<string, number>(); // "room:epoch" → the last seq handled: keep it in your database
  return http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    if (req.method !== "POST" || !verify(secret, req.headers["parley-signature"] as string | undefined, body)) {
      return res.writeHead(401).end();
    }
    const { room, epoch, entries } = JSON.parse(body.toString("utf8")) as {
      room: string;
      epoch: string;
      entries: Entry[];
    };
    try {
      for (const entry of entries) {
        if (entry.seq <= (handled.get(`${room}:${epoch}`) ?? 0)) continue; // delivered before
        await onEntry(room, entry);
        handled.set(`${room}:${epoch}`, entry.seq);
      }
      res.writeHead(204).end(); // a 2xx acknowledges the whole delivery
    } catch {
      res.writeHead(500).end(); // Parley delivers it again later, from the first entry not handled
    }
  });
}
