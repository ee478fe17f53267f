/**
 * The connect rate at the edge: one small Durable Object per address group, asked by the Worker before
 * it forwards a socket request, so a flood across rooms is refused before any room's object wakes
 * (workers-chat-demo's RateLimiter is the model). It reads PARLEY_CONNECT_BURST and
 * PARLEY_CONNECT_PER_SEC like every runtime. Its bucket lives in memory: an object evicted after some
 * ten idle seconds comes back full, which is what ten seconds of refill gives at the default rate.
 */
import { DurableObject } from "cloudflare:workers";
import { loadConfig } from "../../config.ts";
import { type Bucket, takeFrom } from "../../limits.ts";
import { varsOf } from "./vars.ts";

/** One address group's connect bucket. */
export class ConnectLimiter extends DurableObject {
  private readonly burst: number;
  private readonly perSec: number;
  private readonly bucket: Bucket;

  constructor(ctx: DurableObjectState, env: object) {
    super(ctx, env);
    const config = loadConfig(varsOf(env));
    this.burst = config.connectBurst;
    this.perSec = config.connectPerSec;
    this.bucket = { tokens: this.burst, at: Date.now() };
  }

  /** Take one connection attempt: 0 when allowed, else the milliseconds until it would be. */
  take(): number {
    return takeFrom(this.bucket, Date.now(), this.burst, this.perSec);
  }
}
