/**
 * examples/bot.ts end to end: the bot as its own process, a real Parley (dist/node.mjs) delivering webhooks
 * to it, and a member who says `/roll` in a room and gets the bot's answer there.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { type Client, type Frame, join } from "../helpers/client.ts";
import { freshRoom, say } from "../helpers/fixtures.ts";
import { runtimes } from "../helpers/runtimes.ts";
import { freePort, type RunningServer, startServer } from "../helpers/server.ts";
import { eventually } from "../helpers/wait.ts";

const API_KEY = "parley-test-api-key-0123456789";
const SECRET = "parley-test-webhook-secret-0123456789";
const servers: RunningServer[] = [];
after(() => Promise.all(servers.map((s) => s.stop("SIGKILL"))));

/** The first frame `client` got, so far or within `ms`, that matches `pred`. */
async function found(client: Client, pred: (f: Frame) => boolean, what: () => string, ms = 15_000): Promise<Frame> {
  let frame: Frame | undefined;
  await eventually(
    () => {
      frame = client.frames.find(pred);
      return frame !== undefined;
    },
    what,
    ms,
  );
  return frame as Frame;
}

/** The bot's answer to the message numbered `seq`. */
const answerTo = (client: Client, seq: number) =>
  found(
    client,
    (f) => f.type === "message" && f.replyTo === seq,
    () => `the bot's answer to ${seq}; last frames ${JSON.stringify(client.frames.slice(-4))}`,
  );

test("examples/bot.ts answers /roll and /roll 20 in the room, in range, and never its own messages", {
  timeout: 60_000,
}, async () => {
  const parleyPort = await freePort();
  const bot = await startServer(
    { cmd: process.execPath, args: ["--import", "tsx", "examples/bot.ts"] },
    {
      PARLEY_URL: `http://127.0.0.1:${parleyPort}`,
      PARLEY_API_KEY: API_KEY,
      PARLEY_WEBHOOK_SECRET: SECRET,
    },
  );
  servers.push(bot);
  const env = {
    PORT: String(parleyPort),
    PARLEY_DB: ":memory:",
    PARLEY_API_KEY: API_KEY,
    PARLEY_WEBHOOK_URL: `${bot.url}/parley`,
    PARLEY_WEBHOOK_SECRET: SECRET,
    PARLEY_WEBHOOK_RETRY_MS: "200",
  };
  const parley = await startServer(() => runtimes.node.command(env), env);
  servers.push(parley);

  const room = freshRoom("dice");
  const { client } = await join(`${parley.wsUrl}/rooms/${room}/ws?name=ann`, { protocols: ["parley.v2"] });
  const sayAndSeq = async (text: string, ref: string) => {
    client.send(say(text, ref));
    const ack = await found(
      client,
      (f) => f.type === "ack" && f.ref === ref,
      () => `the ack of ${ref}`,
      5000,
    );
    return ack.seq as number;
  };

  const rolls: number[] = [];
  for (const [text, sides] of [
    ["/roll 20", 20],
    ["/roll", 6],
    ["/roll 3", 3],
  ] as const) {
    const seq = await sayAndSeq(text, `roll-${sides}`);
    rolls.push(seq);
    const answer = await answerTo(client, seq);
    assert.deepEqual(answer.from, { id: "bot:dice", name: "dice", bot: true });
    const m = /^ann rolled (\d+) \(d(\d+)\)$/.exec(answer.text as string);
    assert.ok(m, `an answer that says what was rolled: ${answer.text}`);
    assert.equal(Number(m[2]), sides);
    const rolled = Number(m[1]);
    assert.ok(rolled >= 1 && rolled <= sides, `${rolled} is in 1–${sides}`);
  }

  // The bot's own "/roll" (as any bot's) gets no answer; a person's after it does, and that one alone.
  const res = await fetch(`${parley.url}/api/rooms/${room}/messages`, {
    method: "POST",
    headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ text: "/roll", from: { name: "dice" } }),
  });
  assert.equal(res.status, 201);
  const own = (await res.json()).seq as number;
  await sayAndSeq("just chatting", "chat");
  const last = await sayAndSeq("/roll 100", "roll-100");
  await answerTo(client, last);
  const answers = client.frames.filter(
    (f) => f.type === "message" && (f.from as Frame).id === "bot:dice" && f.seq !== own,
  );
  assert.deepEqual(
    answers.map((a) => a.replyTo),
    [...rolls, last],
    "one answer per person's /roll, none to the bot's own",
  );
  await client.close();
});
