/**
 * Workers entry: a small Hono front that serves the page, health and room creation itself, runs the
 * socket checks up to the connect rate (Host, room, origin, and the edge-wide limiter), and forwards each
 * room's socket and API calls to that room's Durable Object. Cloudflare places the objects; one room
 * never shares a thread with another.
 */
import { createEdgeApp } from "../../app.ts";
import { ConfigError, loadConfig } from "../../config.ts";
import { log } from "../../log.ts";
import type { ConnectLimiter } from "./connect-limiter.ts";
import { type AnalyticsDataset, workersLogging, workersTelemetry } from "./telemetry.ts";
import { varsOf } from "./vars.ts";

export { ChatRoom } from "./chat-room.ts";
export { ConnectLimiter } from "./connect-limiter.ts";

interface Bindings {
  ROOMS: DurableObjectNamespace;
  LIMITER: DurableObjectNamespace<ConnectLimiter>;
  /** Optional: a Workers Analytics Engine dataset for the counts (src/adapter/workers/telemetry.ts). */
  PARLEY_ANALYTICS?: AnalyticsDataset;
}

// Built on the first request: the env (and so the configuration) is fixed for the life of a deploy.
let app: ReturnType<typeof createEdgeApp> | undefined;

export default {
  fetch(request, env, ctx) {
    try {
      if (!app) {
        const config = loadConfig(varsOf(env));
        workersTelemetry(config, env.PARLEY_ANALYTICS);
        app = createEdgeApp({
          config,
          // Cloudflare sets it on every request from the internet; a request without it is refused.
          clientAddress: (c) => c.req.header("cf-connecting-ip") || undefined,
          connectRate: (group) => env.LIMITER.get(env.LIMITER.idFromName(group)).take(),
          // idFromName: the same room name always reaches the same object, wherever Cloudflare placed it.
          forward: (room, req) => env.ROOMS.get(env.ROOMS.idFromName(room)).fetch(req),
        });
      }
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      // A process refuses to start on a bad variable; a Worker has no start, so every request says so.
      workersLogging();
      log.error("config_invalid", { error: err.message });
      const error = { code: "internal", message: "the server is misconfigured; its log names the variable" };
      return Response.json({ error }, { status: 500 });
    }
    return app.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<Bindings>;
