/**
 * Workers entry: a small Hono front that serves the page, health and room creation itself, checks room
 * names and origins, and forwards each room's socket and API calls to that room's Durable Object.
 * Cloudflare places the objects; one room never shares a thread with another.
 */
import { createEdgeApp } from "../../app.ts";
import { ConfigError, loadConfig } from "../../config.ts";
import { varsOf } from "./chat-room.ts";

export { ChatRoom } from "./chat-room.ts";

interface Bindings {
  ROOMS: DurableObjectNamespace;
}

// Built on the first request: the env (and so the configuration) is fixed for the life of a deploy.
let app: ReturnType<typeof createEdgeApp> | undefined;

export default {
  fetch(request, env, ctx) {
    try {
      app ??= createEdgeApp({
        config: loadConfig(varsOf(env)),
        // idFromName: the same room name always reaches the same object, wherever Cloudflare placed it.
        forward: (room, req) => env.ROOMS.get(env.ROOMS.idFromName(room)).fetch(req),
      });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      // A process refuses to start on a bad variable; a Worker has no start, so every request says so.
      console.error(`parley: ${err.message}`);
      const error = { code: "internal", message: "the server is misconfigured; its log names the variable" };
      return Response.json({ error }, { status: 500 });
    }
    return app.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<Bindings>;
