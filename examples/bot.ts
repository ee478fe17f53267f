// examples/bot.ts: a dice bot. It follows every room through Parley's webhooks and answers "/roll" (a d6)
// or "/roll 20" in the same room through the HTTP API. Run it beside a Parley started with
// PARLEY_WEBHOOK_URL=http://127.0.0.1:3001/parley and the same PARLEY_API_KEY and PARLEY_WEBHOOK_SECRET:
//   PARLEY_URL=http://127.0.0.1:8080 PARLEY_API_KEY=… PARLEY_WEBHOOK_SECRET=… node --import tsx examples/bot.ts
import { serve } from "@hono/node-server";
import { webhookApp } from "./webhook-hono.ts";

const { PARLEY_URL = "http://127.0.0.1:8080", PARLEY_API_KEY = "", PARLEY_WEBHOOK_SECRET = "" } = process.env;
const ROLL = /^\/roll(?:\s+(\d{1,9}))?\s*$/;

const app = webhookApp(PARLEY_WEBHOOK_SECRET, async (room, entry) => {
  const from = entry.from as { name: string; bot?: boolean } | undefined;
  const roll = entry.type === "message" && !from?.bot && ROLL.exec(String(entry.text)); // never a bot's own
  if (!roll || !from) return;
  const sides = Math.min(Math.max(Number(roll[1] ?? 6), 2), 1_000_000);
  const rolled = 1 + Math.floor(Math.random() * sides);
  const res = await fetch(`${PARLEY_URL}/api/rooms/${room}/messages`, {
    method: "POST",
    headers: { authorization: `Bearer ${PARLEY_API_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({
      text: `${from.name} rolled ${rolled} (d${sides})`,
      from: { name: "dice" },
      replyTo: entry.seq,
    }),
  });
  // 404: the /roll was deleted meanwhile. Anything else unexpected: fail, and Parley delivers it again.
  if (!res.ok && res.status !== 404) throw new Error(`Parley answered ${res.status}`);
});

serve({ fetch: app.fetch, hostname: "127.0.0.1", port: Number(process.env.PORT ?? 3001) }, ({ port }) =>
  console.log(`dice bot listening on http://127.0.0.1:${port}`),
);
