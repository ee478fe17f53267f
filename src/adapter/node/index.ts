/**
 * Node entry: node:http, @hono/node-server and `ws`, with node:sqlite or better-sqlite3 (apis.ts).
 */
import { serveProcess } from "../../process-host.ts";
import { nodeApis } from "./apis.ts";

serveProcess({ name: "node", env: process.env, ...nodeApis });
