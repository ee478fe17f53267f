/**
 * The Node adapter's writer leans on ws internals (`_socket`, `_sender.sendFrame`) and on ws's
 * exported `Sender.frame`. These tests pin what it needs of them, against the ws version in
 * package-lock.json, so an upgrade that changes them fails here.
 */
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { WebSocket, WebSocketServer } from "ws";
import { sendText, waitingBytes } from "../../src/adapter/node/writer.ts";

let wss: WebSocketServer;
let url: string;

before(async () => {
  wss = new WebSocketServer({ port: 0, host: "127.0.0.1", perMessageDeflate: false });
  await new Promise((r) => wss.once("listening", r));
  url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
});
after(() => new Promise((r) => wss.close(r)));

/** A connected pair: the server's socket and a client collecting what it receives. */
async function pair() {
  const serverSide = new Promise<WebSocket>((r) => wss.once("connection", r));
  const client = new WebSocket(url);
  const got: string[] = [];
  client.on("message", (data, isBinary) => {
    assert.equal(isBinary, false);
    got.push(String(data));
  });
  await new Promise((r) => client.once("open", r));
  return { server: await serverSide, client, got };
}

async function until(check: () => boolean) {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check(), "timed out");
}

test("ws still has the internals the writer uses", async () => {
  const { server, client } = await pair();
  const internals = server as unknown as { _socket: { cork: unknown }; _sender: { sendFrame: unknown } };
  assert.equal(typeof internals._socket.cork, "function");
  assert.equal(typeof internals._sender.sendFrame, "function");
  client.close();
});

test("frames of every length and script arrive whole and in order, to every socket", async () => {
  const a = await pair();
  const b = await pair();
  // 125, 126 and 65536 bytes are where the frame header changes its length field.
  const texts = ["hi", "x".repeat(125), "y".repeat(126), "z".repeat(65536), "héllo 👋 世界", ""];
  for (const t of texts) {
    sendText(a.server, t);
    sendText(b.server, t);
  }
  await until(() => a.got.length === texts.length && b.got.length === texts.length);
  assert.deepEqual(a.got, texts);
  assert.deepEqual(b.got, texts);
  a.client.close();
  b.client.close();
});

test("a socket is corked for the rest of the turn, and the queue check does not count this turn's frames", async () => {
  const { server, client, got } = await pair();
  const socket = (server as unknown as { _socket: { writableCorked: number } })._socket;
  sendText(server, "one");
  sendText(server, "two");
  assert.equal(socket.writableCorked, 1, "corked until the loop turn ends");
  assert.ok(server.bufferedAmount > 0, "ws counts the corked bytes as buffered");
  assert.equal(waitingBytes(server), 0, "but they were not waiting before this turn");
  await until(() => got.length === 2);
  assert.equal(socket.writableCorked, 0);
  assert.deepEqual(got, ["one", "two"]);
  client.close();
});

test("a socket with a lot queued in one turn is flushed early", async () => {
  const { server, client, got } = await pair();
  const socket = (server as unknown as { _socket: { writableCorked: number } })._socket;
  const big = "b".repeat(40 * 1024);
  sendText(server, big);
  assert.equal(socket.writableCorked, 1);
  sendText(server, big);
  assert.equal(socket.writableCorked, 0, "past 64 KiB the socket is uncorked at once");
  await until(() => got.length === 2);
  client.close();
});
