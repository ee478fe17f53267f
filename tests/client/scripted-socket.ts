/**
 * A socket the client tests play the server for, on the WebSocket API the client uses: no server, no
 * network, every frame the client sends recorded, every frame it receives scripted by the test.
 */
import type { SocketLike } from "../../src/client/index.ts";
import type { ServerFrame } from "../../src/protocol/index.ts";

/** A socket the test plays the server for: `answer` sees each frame the client sends. */
export class ScriptedSocket implements SocketLike {
  readyState = 0;
  protocol = "parley.v2";
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  readonly sent: Record<string, unknown>[] = [];
  answer?: (frame: Record<string, unknown>) => void;

  constructor(
    readonly url = "",
    readonly protocols: string[] = [],
  ) {}

  send(data: string): void {
    const frame = JSON.parse(data);
    this.sent.push(frame);
    this.answer?.(frame);
  }
  close(code = 1005, reason = ""): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    setImmediate(() => this.onclose?.({ code, reason }));
  }
  accept(protocol = "parley.v2"): void {
    this.protocol = protocol;
    this.readyState = 1;
    this.onopen?.({});
  }
  deliver(frame: ServerFrame): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  /** A handshake refused: an error, then 1006, never an open. */
  refuse(): void {
    this.readyState = 3;
    this.onerror?.({});
    this.onclose?.({ code: 1006, reason: "" });
  }
  /** The frames of one type the client sent here. */
  of(type: string): Record<string, unknown>[] {
    return this.sent.filter((f) => f.type === type);
  }
  /** The query of the upgrade URL. */
  get query(): URLSearchParams {
    return new URL(this.url).searchParams;
  }
}
