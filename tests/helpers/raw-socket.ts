/**
 * A WebSocket client written by hand over `node:net`, for tests that must send what no client library
 * would: reserved opcodes, unmasked or lying frames, broken UTF-8, floods of fragments. It frames bytes
 * exactly as asked and records every frame and the end of the TCP connection.
 */
import { createHash, randomBytes } from "node:crypto";
import net from "node:net";

/** RFC 6455 opcodes. */
export const OP = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

/** What a test wants on the wire; every field but `opcode` has the value a correct client would use. */
export interface FrameSpec {
  opcode: number;
  payload?: Buffer | string;
  /** Default true. */
  fin?: boolean;
  /** RSV1..3 as a 3-bit number (RSV1 = 4). */
  rsv?: number;
  /** Default true: clients must mask (RFC 6455 §5.1). */
  mask?: boolean;
  /** The length to write in the header instead of the payload's real one. */
  length?: bigint;
}

/** A frame the server sent. */
export interface WireFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

/** The bytes of one frame. */
export function encodeFrame(spec: FrameSpec): Buffer {
  const payload = typeof spec.payload === "string" ? Buffer.from(spec.payload) : (spec.payload ?? Buffer.alloc(0));
  const length = spec.length ?? BigInt(payload.length);
  const mask = spec.mask ?? true;
  const head = [((spec.fin ?? true) ? 0x80 : 0) | ((spec.rsv ?? 0) << 4) | (spec.opcode & 0x0f)];
  const maskBit = mask ? 0x80 : 0;
  let ext = Buffer.alloc(0);
  if (length < 126n) head.push(maskBit | Number(length));
  else if (length < 0x10000n) {
    head.push(maskBit | 126);
    ext = Buffer.alloc(2);
    ext.writeUInt16BE(Number(length));
  } else {
    head.push(maskBit | 127);
    ext = Buffer.alloc(8);
    ext.writeBigUInt64BE(length);
  }
  if (!mask) return Buffer.concat([Buffer.from(head), ext, payload]);
  const key = randomBytes(4);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] ^= key[i & 3];
  return Buffer.concat([Buffer.from(head), ext, key, body]);
}

/** A close frame's payload: the code, then the reason. */
export function closePayload(code: number, reason: Buffer | string = ""): Buffer {
  const out = Buffer.alloc(2);
  out.writeUInt16BE(code);
  return Buffer.concat([out, typeof reason === "string" ? Buffer.from(reason) : reason]);
}

/** The Sec-WebSocket-Accept a server must answer for `key` (RFC 6455 §4.2.2). */
export function acceptFor(key: string): string {
  return createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
}

/** How a connection ended, as far as a test can see within its wait. */
export type Ending =
  /** The server sent a Close frame (and `tcpClosed` says whether it then closed the TCP connection). */
  | { kind: "close"; code?: number; reason: Buffer; tcpClosed: boolean }
  /** The TCP connection ended with no Close frame. */
  | { kind: "tcp" }
  /** Still open when the wait ran out. */
  | { kind: "open" };

/** A short text for an assertion message. */
export function describeEnding(e: Ending): string {
  if (e.kind === "close")
    return `Close ${e.code ?? "(no code)"}${e.tcpClosed ? "" : " with the TCP connection left open"}`;
  return e.kind === "tcp" ? "TCP closed with no Close frame" : "still open";
}

/** The head of an HTTP response. */
export interface HttpHead {
  status: number;
  headers: Record<string, string>;
}

/** An open raw connection after a successful handshake. */
export class RawSocket {
  readonly frames: WireFrame[] = [];
  /** Resolves when the TCP connection has ended, either way. */
  readonly ended: Promise<void>;
  private buffer: Buffer;
  private cursor = 0;
  private waiters: (() => void)[] = [];
  private done = false;

  constructor(
    readonly socket: net.Socket,
    readonly head: HttpHead,
    rest: Buffer,
  ) {
    this.buffer = rest;
    this.ended = new Promise((resolve) => {
      socket.on("close", () => {
        this.done = true;
        resolve();
        this.wake();
      });
    });
    // A server that fails the connection often resets it while we write; that is an ending, not an error.
    socket.on("error", () => {});
    socket.on("data", (d: Buffer) => {
      this.buffer = this.buffer.length ? Buffer.concat([this.buffer, d]) : d;
      this.parse();
    });
    socket.resume();
    this.parse();
  }

  /** Whether the TCP connection has ended. */
  get closed(): boolean {
    return this.done;
  }

  private wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  private parse() {
    for (;;) {
      const b = this.buffer;
      if (b.length < 2) return;
      let len = b[1] & 0x7f;
      let at = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        len = Number(b.readBigUInt64BE(2));
        at = 10;
      }
      const masked = (b[1] & 0x80) !== 0;
      const keyAt = at;
      if (masked) at += 4;
      if (b.length < at + len) return;
      const payload = Buffer.from(b.subarray(at, at + len));
      if (masked) for (let i = 0; i < payload.length; i++) payload[i] ^= b[keyAt + (i & 3)];
      this.frames.push({ fin: (b[0] & 0x80) !== 0, rsv: (b[0] >> 4) & 7, opcode: b[0] & 0x0f, masked, payload });
      this.buffer = b.subarray(at + len);
      this.wake();
    }
  }

  /** Write frames (or raw bytes); a write to a connection the server already dropped is ignored. */
  send(...frames: (FrameSpec | Buffer)[]): void {
    if (this.socket.destroyed) return;
    const bytes = frames.map((f) => (Buffer.isBuffer(f) ? f : encodeFrame(f)));
    this.socket.write(bytes.length === 1 ? bytes[0] : Buffer.concat(bytes));
  }

  /** Resolve once every byte written so far has been handed to the kernel. */
  flushed(): Promise<void> {
    if (this.socket.destroyed || this.socket.writableLength === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (this.socket.destroyed || this.socket.writableLength === 0) {
          this.socket.off("drain", check);
          this.socket.off("close", check);
          resolve();
        }
      };
      this.socket.on("drain", check);
      this.socket.on("close", check);
    });
  }

  private async waitFor<T>(find: () => T | undefined, timeoutMs: number): Promise<T | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = find();
      if (found !== undefined) return found;
      const left = deadline - Date.now();
      if (left <= 0 || this.done) return undefined;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** The next frame not yet taken with one of `opcodes` (any when empty), or undefined at the end or timeout. */
  next(opcodes: number[] = [], timeoutMs = 5000): Promise<WireFrame | undefined> {
    return this.waitFor(() => {
      for (let i = this.cursor; i < this.frames.length; i++) {
        if (opcodes.length === 0 || opcodes.includes(this.frames[i].opcode)) {
          this.cursor = i + 1;
          return this.frames[i];
        }
      }
      return undefined;
    }, timeoutMs);
  }

  /** The next text frame parsed as JSON, or undefined. */
  async nextJson(timeoutMs = 5000): Promise<Record<string, unknown> | undefined> {
    const f = await this.next([OP.text], timeoutMs);
    return f && JSON.parse(f.payload.toString("utf8"));
  }

  /**
   * How the server ends this connection within `timeoutMs`. On its Close frame we answer with one, as
   * a client must, and then give the server `tcpWaitMs` more to close the TCP connection (§7.1.1).
   */
  async ending(timeoutMs = 5000, tcpWaitMs = timeoutMs): Promise<Ending> {
    const close = await this.waitFor(() => this.frames.find((f) => f.opcode === OP.close), timeoutMs);
    if (!close) return this.done ? { kind: "tcp" } : { kind: "open" };
    const code = close.payload.length >= 2 ? close.payload.readUInt16BE(0) : undefined;
    this.send({ opcode: OP.close, payload: code === undefined ? Buffer.alloc(0) : closePayload(code) });
    let timer: NodeJS.Timeout | undefined;
    const tcpClosed = await Promise.race([
      this.ended.then(() => true),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(false), tcpWaitMs))),
    ]);
    clearTimeout(timer);
    return { kind: "close", code, reason: close.payload.subarray(2), tcpClosed };
  }

  /** Drop the TCP connection at once. */
  destroy(): void {
    this.socket.destroy();
  }
}

/** Every raw socket not yet destroyed, so a suite can clean up after a failed test. */
export const openRawSockets = new Set<net.Socket>();

/** Destroy every raw socket a test left open. */
export function destroyAllRaw(): void {
  for (const s of openRawSockets) s.destroy();
  openRawSockets.clear();
}

/** Send a raw HTTP request to 127.0.0.1:`port`; its response head and what follows, or undefined if closed first. */
export function rawRequest(
  port: number,
  request: string | Buffer,
  timeoutMs = 10_000,
): Promise<{ socket: net.Socket; head: HttpHead; rest: Buffer } | undefined> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    openRawSockets.add(socket);
    socket.on("close", () => openRawSockets.delete(socket));
    let got = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no response head within ${timeoutMs} ms; got ${JSON.stringify(got.toString("latin1"))}`));
    }, timeoutMs);
    const finish = (value: { socket: net.Socket; head: HttpHead; rest: Buffer } | undefined) => {
      clearTimeout(timer);
      socket.off("data", onData);
      // Held until the RawSocket listens: data emitted with no listener would be lost.
      socket.pause();
      resolve(value);
    };
    const onData = (d: Buffer) => {
      got = Buffer.concat([got, d]);
      const end = got.indexOf("\r\n\r\n");
      if (end < 0) return;
      const [statusLine, ...lines] = got.subarray(0, end).toString("latin1").split("\r\n");
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1]);
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(":");
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      finish({ socket, head: { status, headers }, rest: got.subarray(end + 4) });
    };
    socket.on("data", onData);
    socket.on("error", () => {});
    socket.on("close", () => finish(undefined));
    socket.on("connect", () => socket.write(request));
  });
}

/** A WebSocket upgrade request head for `path`, with `key` and any extra header lines. */
export function upgradeRequest(port: number, path: string, key: string, extra: string[] = []): string {
  return [
    `GET ${path} HTTP/1.1`,
    `Host: 127.0.0.1:${port}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    `Sec-WebSocket-Key: ${key}`,
    "Sec-WebSocket-Version: 13",
    ...extra,
    "",
    "",
  ].join("\r\n");
}

/** Open a WebSocket to `path` by hand; throws unless the server answers 101 with the right Sec-WebSocket-Accept. */
export async function rawConnect(port: number, path: string, extra: string[] = []): Promise<RawSocket> {
  const key = randomBytes(16).toString("base64");
  const res = await rawRequest(port, upgradeRequest(port, path, key, extra));
  if (!res) throw new Error(`the server closed the connection during the handshake to ${path}`);
  if (res.head.status !== 101) {
    res.socket.destroy();
    throw new Error(`handshake to ${path} answered ${res.head.status}`);
  }
  if (res.head.headers["sec-websocket-accept"] !== acceptFor(key)) {
    res.socket.destroy();
    throw new Error(`wrong Sec-WebSocket-Accept: ${res.head.headers["sec-websocket-accept"]}`);
  }
  return new RawSocket(res.socket, res.head, res.rest);
}
