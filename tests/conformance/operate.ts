/**
 * Operating Parley (issue 15, parts 1 and 2): `/metrics` scraped during traffic, its counts checked
 * against what the test did, and the server's log lines read for their shape and for anything secret.
 * Written once, run against a real server of each runtime inside `conformance(runtime)`.
 */
import assert from "node:assert/strict";
import { after, before, describe } from "node:test";
import { Client, type Frame, join } from "../helpers/client.ts";
import { freshRoom, say } from "../helpers/fixtures.ts";
import { type Runtime, testsWithTimeout } from "../helpers/runtimes.ts";
import { type RunningServer, startServer } from "../helpers/server.ts";
import { signToken, TEST_JWT_SECRET } from "../helpers/tokens.ts";
import { eventually, retry } from "../helpers/wait.ts";

const API_KEY = "parley-operate-api-key-0123456789";
const METRICS_TOKEN = "parley-operate-metrics-token-0123";
const V2 = ["parley.v2"];

/** One sample of a Prometheus text exposition: `series` as written (name and labels), 0 when absent. */
export function sample(text: string, series: string): number {
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    if (line.slice(0, at) === series) return Number(line.slice(at + 1));
  }
  return 0;
}

export function conformanceOperate(runtime: Runtime): void {
  const it = testsWithTimeout(60_000);
  let server: RunningServer;

  describe("operating: metrics and logs", () => {
    before(async () => {
      const env = {
        PARLEY_DB: ":memory:",
        PARLEY_LOG_LEVEL: "debug",
        PARLEY_API_KEY: API_KEY,
        PARLEY_JWT_SECRET: TEST_JWT_SECRET,
        PARLEY_METRICS_TOKEN: METRICS_TOKEN,
      };
      server = await startServer(() => runtime.command(env), env);
    });
    after(() => server?.stop());

    const scrape = async (auth: string | null = `Bearer ${METRICS_TOKEN}`) => {
      const res = await fetch(`${server.url}/metrics`, auth ? { headers: { authorization: auth } } : {});
      return { status: res.status, type: res.headers.get("content-type") ?? "", text: await res.text() };
    };

    it("metrics: /metrics is Prometheus text behind PARLEY_METRICS_TOKEN, and its counts move with the traffic", {
      skip: runtime.ownsMetrics,
    }, async () => {
      assert.equal((await scrape(null)).status, 401, "no token");
      assert.equal((await scrape("Bearer wrong-token-wrong-token-0")).status, 401, "a wrong token");
      const first = await scrape();
      assert.equal(first.status, 200);
      assert.match(first.type, /^text\/plain/);
      for (const name of ["parley_connections", "parley_event_loop_lag_seconds", "process_resident_memory_bytes"]) {
        assert.match(first.text, new RegExp(`^${name} `, "m"), `${name} is exposed`);
      }
      const room = freshRoom("metrics");
      const url = `${server.wsUrl}/rooms/${room}/ws`;
      const { client: a } = await join(url, { protocols: V2 });
      const { client: b } = await join(url, { protocols: V2 });
      for (let i = 0; i < 3; i++) {
        a.send(say(`metric ${i}`, `m${i}`));
        await a.next("ack");
      }
      a.send({ type: "say" });
      assert.equal((await a.next("error")).code, "bad_frame");
      assert.equal((await fetch(`${server.url}/api/rooms/${room}/messages`)).status, 200);
      assert.equal((await fetch(`${server.url}/api/rooms/${room}/messages?limit=x`)).status, 400);
      assert.equal((await fetch(`${server.url}/no-such-page`)).status, 404);
      const during = await scrape();
      const moved = (series: string) => sample(during.text, series) - sample(first.text, series);
      assert.equal(moved('parley_entries_total{kind="message"}'), 3, "three messages committed");
      assert.equal(moved('parley_frames_rejected_total{code="bad_frame"}'), 1, "one bad frame");
      assert.equal(sample(during.text, "parley_connections"), 2);
      assert.equal(sample(during.text, "parley_users"), 2);
      assert.equal(sample(during.text, "parley_rooms"), 1);
      assert.ok(moved("parley_commit_batch_size_count") >= 1, "commits observed");
      assert.ok(moved("parley_broadcast_fanout_count") >= 3, "broadcasts observed");
      // HTTP requests by route pattern, never by the path a client wrote; the socket's upgrades are not among them.
      const http = (route: string, status: number) =>
        `parley_http_requests_total{method="GET",route="${route}",status="${status}",ok="${status < 400}"}`;
      assert.equal(moved(http("/api/rooms/:room/messages", 200)), 1, "the history read");
      assert.equal(moved(http("/api/rooms/:room/messages", 400)), 1, "the bad query");
      assert.equal(moved(http("/*", 404)), 1, "the unknown page");
      assert.equal(
        moved(
          'parley_http_request_duration_seconds_count{method="GET",route="/api/rooms/:room/messages",status="200",ok="true"}',
        ),
        1,
        "the history read's time",
      );
      assert.doesNotMatch(during.text, /route="\/rooms\//, "no socket route: every request to it here was an upgrade");
      assert.doesNotMatch(during.text, new RegExp(room), "no room name in any series");

      await b.close(1000);
      const refused = new Client(url, { protocols: V2, headers: { origin: "http://evil.example" } });
      await refused.closed;
      await retry(
        async () => assert.equal(sample((await scrape()).text, "parley_connections"), 1, "b counted out"),
        5000,
      );
      const closed = await scrape();
      const since = (series: string) => sample(closed.text, series) - sample(first.text, series);
      assert.equal(since('parley_closes_total{code="1000",reason="client"}'), 1, "b's close");
      assert.equal(since('parley_upgrades_refused_total{status="403"}'), 1, "the refused origin");
      await a.close();
    });

    it("metrics: on Workers there is no /metrics (404 JSON)", {
      skip: !runtime.ownsMetrics && "a process serves /metrics (tested above)",
    }, async () => {
      const res = await scrape();
      assert.equal(res.status, 404);
      assert.equal(JSON.parse(res.text).error.code, "not_found");
    });

    it("logs: one JSON object per line with time, level and event; no message text, token or key in any line", async () => {
      const room = freshRoom("logs");
      const secretText = `secret-text-${Date.now()}`;
      const access = await signToken({ sub: "log-user", name: "Logan", rooms: [room] });
      const url = `${server.wsUrl}/rooms/${room}/ws`;
      const signed = await join(`${url}?access_token=${access}`, { protocols: V2 });
      const guest = await join(url, { protocols: V2 });
      guest.client.send(say(secretText, "s1"));
      await guest.client.next("ack");
      guest.client.send({ type: "say", text: `${secretText}-bad`, replyTo: 999_999 });
      await guest.client.next("error");
      const api = await fetch(`${server.url}/api/rooms/${room}/messages`, {
        method: "POST",
        headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
        body: JSON.stringify({ text: `${secretText}-api`, from: { name: "bot" } }),
      });
      assert.equal(api.status, 201);
      await scrape();
      await guest.client.close(4000);
      await signed.client.close();
      const secrets: [string, string][] = [
        ["a message's text", secretText],
        ["a reconnect token", guest.welcome.token as string],
        ["a signed user's reconnect token", signed.welcome.token as string],
        ["an access token", access],
        ["the API key", API_KEY],
        ["the JWT secret", TEST_JWT_SECRET],
        ["the metrics token", METRICS_TOKEN],
      ];
      const closedLine = (line: string) => line.includes('"event":"closed"') && line.includes('"code":4000');
      await eventually(() => server.output().split("\n").some(closedLine), "the guest's close logged");
      const lines = server
        .output()
        .split("\n")
        .filter((l) => l.trim() && !/listening on http/.test(l))
        .filter((l) => !runtime.mixesLogOutput || l.includes('"logger":"parley"'));
      assert.ok(lines.length > 0, "the server logged");
      for (const [what, secret] of secrets) {
        assert.deepEqual(
          lines.filter((l) => l.includes(secret)),
          [],
          `${what} appears in the log`,
        );
      }
      const parsed = lines.map((l) => JSON.parse(l) as Frame & Record<string, unknown>);
      for (const line of parsed) {
        assert.equal(typeof line["@timestamp"], "string");
        assert.match(String(line.level), /^(DEBUG|INFO|WARNING|ERROR)$/);
        assert.equal(typeof line.event, "string");
      }
      const guestId = (guest.welcome.you as Frame).id;
      assert.ok(parsed.some((l) => l.event === "joined" && l.room === room && l.uid === guestId && l.v === 2));
      assert.ok(parsed.some((l) => l.event === "frame_rejected" && l.code === "not_found" && l.room === room));
      assert.ok(
        parsed.some((l) => l.event === "closed" && l.code === 4000 && l.reason === "client" && l.room === room),
      );
    });
  });
}
