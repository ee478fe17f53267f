/**
 * The process host's `/metrics` (Prometheus text format), with `prom-client`: the room engine's counts
 * (src/metrics.ts), the rooms' gauges read at each scrape, the process's memory, and event-loop lag
 * measured here. prom-client runs on Node, Deno and Bun (../shared/PITFALLS.md), but its default
 * collectors read /proc (which Deno's start script does not grant) and its loop-lag histogram misreads
 * on Deno, so memory comes from `process.memoryUsage()` and lag from a timer, the same on all three.
 */
import { prometheus as honoPrometheus } from "@hono/prometheus";
import type { Hono, MiddlewareHandler } from "hono";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { constantTimeEqual } from "./api.ts";
import type { Config } from "./config.ts";
import { httpError, isLoopback } from "./http.ts";
import type { CounterName, HistogramName, Labels, Meter } from "./metrics.ts";

/** What the gauges read at each scrape. */
export interface Gauges {
  connections(): number;
  users(): number;
  rooms(): number;
  /** Entries waiting for their webhook delivery (0 without webhooks). */
  webhookBacklog(): number;
}

const COUNTERS: Record<CounterName, { help: string; labels: string[] }> = {
  entries: { help: "Entries committed to a room log, by kind", labels: ["kind"] },
  frames_rejected: { help: "Client frames answered with an error, by code", labels: ["code"] },
  closes: {
    help: "Connections closed, by close code and reason (client: closed by the client)",
    labels: ["code", "reason"],
  },
  slow_reader_closes: { help: "Connections closed 1013 slow_reader", labels: [] },
  rate_limited: { help: "Frames refused by a rate limit (frame budget or token bucket)", labels: [] },
  upgrades_refused: { help: "WebSocket upgrades refused before the handshake, by HTTP status", labels: ["status"] },
  webhook_deliveries: { help: "Webhook deliveries acknowledged by the receiver", labels: [] },
  webhook_failures: { help: "Webhook deliveries that failed and will be tried again", labels: [] },
};

const HISTOGRAMS: Record<HistogramName, { name: string; help: string; buckets: number[] }> = {
  commit_batch_size: {
    name: "parley_commit_batch_size",
    help: "Entries per group commit",
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500],
  },
  commit_seconds: {
    name: "parley_commit_duration_seconds",
    help: "Time of one group commit, SQLite transaction included",
    buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
  },
  broadcast_fanout: {
    name: "parley_broadcast_fanout",
    help: "Connections one broadcast frame went to",
    buckets: [1, 2, 5, 10, 50, 100, 500, 1000, 5000],
  },
};

/** A registry with Parley's metrics, and the meter that feeds it. */
export function prometheus(gauges: Gauges): {
  meter: Meter;
  scrape(): Promise<string>;
  contentType: string;
  /** A middleware that counts and times each HTTP request it sees, by method, route pattern and status. */
  requests: MiddlewareHandler;
  stop(): void;
} {
  const registry = new Registry();
  // parley_http_requests_total and parley_http_request_duration_seconds, labelled by the pattern of the
  // last route that matched (`/api/rooms/:room/messages`), never by the path a client wrote; with the
  // methods limited to the standard ones (src/http.ts), the series stay bounded.
  const http = honoPrometheus({ registry, prefix: "parley_" });
  const counters = new Map<CounterName, Counter>();
  for (const [name, { help, labels }] of Object.entries(COUNTERS) as [CounterName, (typeof COUNTERS)[CounterName]][]) {
    counters.set(name, new Counter({ name: `parley_${name}_total`, help, labelNames: labels, registers: [registry] }));
  }
  const histograms = new Map<HistogramName, Histogram>();
  for (const [key, { name, help, buckets }] of Object.entries(HISTOGRAMS) as [
    HistogramName,
    (typeof HISTOGRAMS)[HistogramName],
  ][]) {
    histograms.set(key, new Histogram({ name, help, buckets, registers: [registry] }));
  }
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  gauge("parley_connections", "Open WebSocket connections in rooms", gauges.connections);
  gauge("parley_users", "Users in rooms (a user with two tabs counts once per room)", gauges.users);
  gauge("parley_rooms", "Rooms held in memory (rooms with someone in them)", gauges.rooms);
  gauge("parley_webhook_backlog", "Entries waiting for their webhook delivery", gauges.webhookBacklog);
  gauge("process_resident_memory_bytes", "Resident memory of the process", () => process.memoryUsage().rss);
  gauge("process_heap_used_bytes", "JavaScript heap in use", () => process.memoryUsage().heapUsed);
  // How late a 100 ms timer fires, the worst of the last scrape interval: the event loop's own lag.
  let worst = 0;
  let due = Date.now() + 100;
  const timer = setInterval(() => {
    const now = Date.now();
    worst = Math.max(worst, now - due);
    due = now + 100;
  }, 100);
  (timer as { unref?: () => void }).unref?.();
  new Gauge({
    name: "parley_event_loop_lag_seconds",
    help: "The longest delay of a 100 ms timer since the last scrape",
    registers: [registry],
    collect() {
      this.set(worst / 1000);
      worst = 0;
    },
  });
  const meter: Meter = {
    count: (name, labels?: Labels, by = 1) => counters.get(name)?.inc(labels ?? {}, by),
    observe: (name, value, labels?: Labels) => histograms.get(name)?.observe(labels ?? {}, value),
  };
  return {
    meter,
    scrape: () => registry.metrics(),
    contentType: registry.contentType,
    requests: http.registerMetrics,
    stop: () => clearInterval(timer),
  };
}

/**
 * `GET /metrics`: with `PARLEY_METRICS_TOKEN` set, for a Bearer equal to it (compared in constant time);
 * without one, only on a server that listens on a loopback address. Otherwise 404, as if it were not there.
 */
export function mountMetrics(
  // biome-ignore lint/suspicious/noExplicitAny: any app's variables.
  app: Hono<any>,
  config: Config,
  metrics: { scrape(): Promise<string>; contentType: string },
): void {
  app.get("/metrics", async (c) => {
    const token = config.metricsToken;
    if (token === undefined && !isLoopback(config.listenAddress))
      return httpError(c, 404, "not_found", "no such endpoint");
    if (token !== undefined) {
      const bearer = c.req.header("authorization")?.match(/^Bearer (.+)$/)?.[1] ?? "";
      if (!constantTimeEqual(bearer, token)) {
        c.header("WWW-Authenticate", 'Bearer realm="metrics"');
        return httpError(c, 401, "unauthorized", "this endpoint needs PARLEY_METRICS_TOKEN as a Bearer token");
      }
    }
    return c.body(await metrics.scrape(), 200, { "content-type": metrics.contentType });
  });
}
