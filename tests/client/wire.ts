/**
 * A controllable network between a ParleyClient and a real server: the client gets `wire.WebSocket`
 * and `wire.fetch`, which are `ws` and the global fetch with three things added that a test needs
 * and a real network only does by accident: cut it (the open socket dies, new ones fail until it is
 * back), stall one socket's path and let it recover late, lose frames on the way in, and send headers
 * (Origin, X-Forwarded-For) the way a browser or a proxy would. Each socket is kept, so a test can count reconnects and reach the raw `ws` underneath.
 */
import WebSocket from "ws";
import type { ServerFrame, SocketConstructor, SocketLike } from "../../src/client/index.ts";

export interface WireOptions {
  /** Sent with the upgrade and with the client's diagnostic GET alike. */
  headers?: Record<string, string>;
  /** Answer the server's protocol pings (default true); false leaves only the client's own keep-alive. */
  autoPong?: boolean;
}

export class Wire {
  readonly sockets: TapSocket[] = [];
  /** While down, every new socket fails as a refused connection would, and so does fetch. */
  down = false;

  constructor(readonly options: WireOptions = {}) {}

  /** The constructor to pass as `options.WebSocket`. */
  get WebSocket(): SocketConstructor {
    const wire = this;
    return class extends TapSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(wire, url, protocols);
      }
    };
  }

  /** The fetch to pass as `options.fetch` (the client's diagnostic GET goes over the same wire). */
  readonly fetch = ((input: string | URL | Request, init?: RequestInit) => {
    if (this.down) return Promise.reject(new TypeError("fetch failed (the wire is cut)"));
    return fetch(input, { ...init, headers: { ...this.options.headers } });
  }) as typeof fetch;

  /** The newest socket. */
  get last(): TapSocket {
    const s = this.sockets.at(-1);
    if (!s) throw new Error("no socket opened on this wire yet");
    return s;
  }

  /** Lose the network: the open socket drops (1006 on the client) and nothing gets through until `mend()`. */
  cut(): void {
    this.down = true;
    this.sockets.at(-1)?.inner?.terminate();
  }

  mend(): void {
    this.down = false;
  }

  /** Drop every socket at once (cleanup after a test). */
  destroy(): void {
    for (const s of this.sockets) s.inner?.terminate();
  }
}

/** A `ws` socket seen through the standard WebSocket fields the client uses. */
export class TapSocket implements SocketLike {
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  /** Every frame the client sent on this socket, as sent. */
  readonly sent: string[] = [];
  /** Every frame that reached the client (lost ones are not here). */
  readonly received: ServerFrame[] = [];
  /** The real socket; absent when the wire was down at construction. */
  readonly inner?: WebSocket;
  /** Return true to lose an incoming frame before the client sees it. */
  lose?: (frame: ServerFrame) => boolean;
  private fakeState: number = WebSocket.CONNECTING;
  /** While the path is stalled: the frames from the server and the client's close, waiting. */
  private stalled?: { frames: string[]; close?: [number?, string?] };

  constructor(wire: Wire, url: string, protocols?: string | string[]) {
    wire.sockets.push(this);
    if (wire.down) {
      // What a browser reports for a refused connection: an error, then a 1006 close, never an open.
      setTimeout(() => {
        this.fakeState = WebSocket.CLOSED;
        this.onerror?.({});
        this.onclose?.({ code: 1006, reason: "" });
      }, 5);
      return;
    }
    const ws = new WebSocket(url, protocols, {
      headers: wire.options.headers,
      autoPong: wire.options.autoPong ?? true,
      perMessageDeflate: false,
    });
    this.inner = ws;
    ws.onopen = (ev) => this.onopen?.(ev);
    ws.onmessage = (ev) => {
      if (typeof ev.data !== "string") return this.onmessage?.({ data: ev.data });
      if (this.stalled) this.stalled.frames.push(ev.data);
      else this.arrive(ev.data);
    };
    ws.onclose = (ev) => this.onclose?.({ code: ev.code, reason: ev.reason });
    ws.onerror = (ev) => this.onerror?.(ev);
  }

  get readyState(): number {
    return this.inner?.readyState ?? this.fakeState;
  }

  send(data: string): void {
    this.sent.push(data);
    this.inner?.send(data);
  }

  close(code?: number, reason?: string): void {
    if (this.stalled) this.stalled.close = [code, reason];
    else if (this.inner) this.inner.close(code, reason);
    else this.fakeState = WebSocket.CLOSED;
  }

  /** The path from the server stops delivering (pings still go out); a close from the client waits too. */
  stall(): void {
    this.stalled = { frames: [] };
  }

  /** The path recovers: what waited arrives, late, while the socket is still open (as `ws` delivers
   * frames read before the close completes); then the client's close goes out. */
  recover(): void {
    const stalled = this.stalled;
    this.stalled = undefined;
    for (const data of stalled?.frames ?? []) this.arrive(data);
    if (stalled?.close) this.inner?.close(...stalled.close);
  }

  private arrive(data: string) {
    const frame = JSON.parse(data) as ServerFrame;
    if (this.lose?.(frame)) return;
    this.received.push(frame);
    this.onmessage?.({ data });
  }

  /** The frames of one type the client sent here, parsed. */
  sentOf(type: string): Record<string, unknown>[] {
    return this.sent.map((s) => JSON.parse(s)).filter((f) => f.type === type);
  }
}
