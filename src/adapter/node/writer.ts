/**
 * Frame once, write many, and one write per socket per turn of the event loop.
 *
 * A room sends the same string to every member. `ws` would turn it into bytes and a frame header once
 * per socket, and write each frame with its own syscall. Here the frame is built once (with ws's own
 * exported `Sender.frame`) and the same bytes go to every socket; and each socket is corked for the
 * rest of the loop turn, so the frames of every message that arrived in this turn leave in one writev.
 *
 * It leans on two ws internals, `_socket` and `_sender.sendFrame`; ws is pinned in package.json and
 * tests/unit/node-writer.test.ts checks them, so an upgrade that moves them fails a test, not production.
 */

import type { WebSocket } from "ws";
import * as ws from "ws";

// ws exports Sender, but @types/ws does not declare it.
const { Sender } = ws as unknown as {
  Sender: {
    frame(data: Buffer, options: { fin: boolean; opcode: number; mask: boolean; readOnly: boolean }): Buffer[];
  };
};

/** The ws internals used here. */
interface WsInternals {
  _socket: import("node:net").Socket;
  _sender: { sendFrame(list: Buffer[], cb?: () => void): void };
}

// Past this much in one turn a socket is flushed early: a corked socket holds memory, and a reader
// that is really behind should be seen as behind by the next frame's queue check, not hidden here.
const FLUSH_AT = 64 * 1024;

let lastText: string | undefined;
let lastFrame: Buffer | undefined;
const corked = new Map<WebSocket, number>();
let flushing = false;

function frameOf(text: string): Buffer {
  // A broadcast hands the same string to every member in a row: one entry of memory is enough.
  if (text !== lastText || !lastFrame) {
    const list = Sender.frame(Buffer.from(text), { fin: true, opcode: 1, mask: false, readOnly: true });
    lastFrame = list.length === 1 ? list[0] : Buffer.concat(list);
    lastText = text;
  }
  return lastFrame;
}

function uncork(socket: WebSocket): void {
  corked.delete(socket);
  (socket as unknown as WsInternals)._socket.uncork();
}

function flushAll(): void {
  flushing = false;
  for (const socket of corked.keys()) uncork(socket);
  // The frame cache must not keep a big frame alive between turns.
  lastText = lastFrame = undefined;
}

/** Send a text frame on an open socket, built once per distinct string and coalesced per loop turn. */
export function sendText(socket: WebSocket, text: string): void {
  const internals = socket as unknown as WsInternals;
  const frame = frameOf(text);
  let pending = corked.get(socket);
  if (pending === undefined) {
    internals._socket.cork();
    pending = 0;
    if (!flushing) {
      flushing = true;
      setImmediate(flushAll);
    }
  }
  // Counted before the write, so that a socket corked here is uncorked at the turn's end even if it throws.
  pending += frame.length;
  corked.set(socket, pending);
  internals._sender.sendFrame([frame]);
  if (pending >= FLUSH_AT) uncork(socket);
}

/** Bytes waiting for `ws` that were queued before this loop turn (what a slow-reader check should see). */
export function waitingBytes(socket: WebSocket): number {
  return Math.max(0, socket.bufferedAmount - (corked.get(socket) ?? 0));
}
