/**
 * A small test client over `ws`: it records every frame and close, and waits for the ones a test expects.
 */
import WebSocket from "ws";
import { checkFrame } from "./frame-check.ts";

export type Frame = Record<string, unknown> & { type: string };

export interface ClientOptions {
  protocols?: string[];
  headers?: Record<string, string>;
  /** Answer server pings (default true); false makes a client look dead to the idle timeout. */
  autoPong?: boolean;
  /** Offer per-message compression (default false). */
  perMessageDeflate?: boolean;
  /** Connect from this local address (127.0.0.2 is a second client address on loopback). */
  localAddress?: string;
}

export interface Closed {
  code: number;
  reason: string;
}

/** Every client not yet closed, so a suite can clean up after a failed test. */
export const openClients = new Set<Client>();

/** Drop every client a test left open. */
export function terminateAll(): void {
  for (const c of openClients) c.ws.terminate();
  openClients.clear();
}

/** One test connection. */
export class Client {
  readonly frames: Frame[] = [];
  readonly ws: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<Closed>;
  /** Set when the handshake failed: the HTTP status the server answered. */
  status?: number;
  private cursor = 0;
  private waiters: (() => void)[] = [];

  constructor(url: string, opts: ClientOptions = {}) {
    this.ws = new WebSocket(url, opts.protocols ?? [], {
      headers: opts.headers,
      autoPong: opts.autoPong ?? true,
      perMessageDeflate: opts.perMessageDeflate ?? false,
      localAddress: opts.localAddress,
    });
    this.ws.on("message", (data, isBinary) => {
      const frame = isBinary ? { type: "<binary>" } : JSON.parse(data.toString());
      checkFrame(frame);
      this.frames.push(frame);
      this.wake();
    });
    openClients.add(this);
    this.ws.on("unexpected-response", (_req, res) => {
      this.status = res.statusCode;
      res.resume();
      // Aborting the handshake makes ws emit "error" and then "close".
      this.ws.terminate();
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once("open", () => resolve());
      this.ws.once("error", (err) => reject(this.status ? new Error(`handshake refused: ${this.status}`) : err));
    });
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) => {
      this.ws.on("close", (code, reason) => {
        openClients.delete(this);
        resolve({ code, reason: reason.toString() });
        this.wake();
      });
      this.ws.on("error", () => {});
    });
  }

  private wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  /** The next frame not yet taken that matches `type` (skipping others), within `timeoutMs`. */
  next(type?: string, timeoutMs = 5000): Promise<Frame> {
    return this.nextOf(type === undefined ? [] : [type], timeoutMs);
  }

  /** The next frame not yet taken whose type is one of `types` (any frame when empty). */
  async nextOf(types: string[], timeoutMs = 5000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    const type = types.join("|") || undefined;
    for (;;) {
      for (let i = this.cursor; i < this.frames.length; i++) {
        if (types.length === 0 || types.includes(this.frames[i].type)) {
          this.cursor = i + 1;
          return this.frames[i];
        }
      }
      const left = deadline - Date.now();
      if (left <= 0 || this.ws.readyState === WebSocket.CLOSED) {
        throw new Error(
          `no ${type ?? "frame"} within ${timeoutMs} ms; got ${JSON.stringify(this.frames.slice(this.cursor))}`,
        );
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Frames of `type` received from now on for `ms` (for asserting that nothing arrives). */
  async quiet(ms: number, type?: string): Promise<Frame[]> {
    const from = this.frames.length;
    await new Promise((r) => setTimeout(r, ms));
    return this.frames.slice(from).filter((f) => type === undefined || f.type === type);
  }

  close(code = 1000): Promise<Closed> {
    this.ws.close(code);
    return this.closed;
  }
}

/** Open a client and wait for its `welcome`. */
export async function join(url: string, opts: ClientOptions = {}): Promise<{ client: Client; welcome: Frame }> {
  const client = new Client(url, opts);
  await client.opened;
  const welcome = await client.next("welcome");
  return { client, welcome };
}

/** The close a refused handshake ends with: the HTTP status. */
export async function refusedStatus(url: string, opts: ClientOptions = {}): Promise<number | undefined> {
  const client = new Client(url, opts);
  await client.opened.catch(() => {});
  await client.closed;
  return client.status;
}
