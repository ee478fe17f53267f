// examples/webhook-hono.ts: a Hono receiver that verifies every delivery and handles each entry once.
import { Hono } from "hono";
import { verifyParleySignature } from "./webhook-verify.ts";

export interface Entry {
  type: string;
  seq: number;
  [field: string]: unknown;
}

/** `onEntry` runs once per entry, in `seq` order per room, though Parley may deliver an entry again. */
export function webhookApp(secret: string, onEntry: (room: string, entry: Entry) => void | Promise<void>) {
  // The last seq handled per room and epoch. Keep it where your effects go (your database, in the
  // same transaction), so that a restart of your service does not forget it.
  const handled = new Map<string, number>();
  const app = new Hono();
  app.post("/parley", async (c) => {
    const body = await c.req.text();
    if (!(await verifyParleySignature(secret, c.req.header("parley-signature"), body))) {
      return c.text("bad signature", 401);
    }
    const { room, epoch, entries } = JSON.parse(body) as { room: string; epoch: string; entries: Entry[] };
    const key = `${room}:${epoch}`;
    for (const entry of entries) {
      if (entry.seq <= (handled.get(key) ?? 0)) continue; // delivered before
      await onEntry(room, entry);
      handled.set(key, entry.seq);
    }
    return c.body(null, 204); // any 2xx acknowledges the whole delivery
  });
  return app;
}
