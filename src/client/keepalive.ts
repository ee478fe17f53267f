/**
 * The keep-alive: an application ping while live, under every runtime's idle timeout, and a deadline
 * for any frame after it, so that a socket that died without a close is noticed.
 */
import type { Link } from "./link.ts";
import type { Timer } from "./timers.ts";

const PING_INTERVAL_MS = 25_000;
const PONG_TIMEOUT_MS = 10_000;

/** Pings one live connection and says when it went silent. */
export class KeepAlive {
  private pingTimer?: Timer;
  /** Started by a ping, cancelled by any frame: if it fires, the connection is dead. */
  private pongTimer?: Timer;

  constructor(
    private readonly link: Link,
    private readonly timing: { pingIntervalMs?: number; pongTimeoutMs?: number },
    private readonly silent: () => void,
  ) {}

  /** Start pinging (the timers are the link's, so a drop or `close()` stops it). */
  start(): void {
    this.pingTimer?.cancel();
    this.pingTimer = this.link.timers.every(this.timing.pingIntervalMs ?? PING_INTERVAL_MS, () => {
      // The bare ping: Workers answers it without waking the room, and it takes no rate token there.
      this.link.send({ type: "ping" });
      if (this.pongTimer?.active) return;
      // No frame at all in time: the socket is dead even if the runtime has not noticed.
      this.pongTimer = this.link.timers.after(this.timing.pongTimeoutMs ?? PONG_TIMEOUT_MS, this.silent);
    });
  }

  /** Any frame proves the connection alive. */
  heard(): void {
    this.pongTimer?.cancel();
    this.pongTimer = undefined;
  }
}
