#!/usr/bin/env node
/**
 * The `parley-chat` command: `parley-chat chat <url> --room R …` (src/cli/chat.ts). On Node 20, which
 * has no global WebSocket, it uses `ws`; Deno and Bun have their own.
 */
import WebSocket from "ws";
import type { SocketConstructor } from "../client/index.ts";
import { parseChatArgs, runChat, USAGE } from "./chat.ts";

const [command, ...rest] = process.argv.slice(2);
if (command !== "chat") {
  console.error(USAGE);
  process.exit(command === "--help" || command === "-h" ? 0 : 2);
}
try {
  const args = parseChatArgs(rest, process.stdin.isTTY === true);
  const Socket = (globalThis.WebSocket ?? WebSocket) as unknown as SocketConstructor;
  const code = await runChat(args, { input: process.stdin, print: (text) => console.log(text), WebSocket: Socket });
  process.exit(code);
} catch (err) {
  console.error((err as Error).message);
  process.exit(2);
}
