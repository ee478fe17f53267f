/**
 * The test helper that starts servers tries again only when the port was taken (see startServer).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { type Command, startServer } from "../helpers/server.ts";

/** A stand-in server: prints `line` and then exits with `code`, or stays up when `code` is null. */
const fake = (line: string, code: number | null): Command => ({
  cmd: process.execPath,
  args: [
    "-e",
    `console.error(${JSON.stringify(line)}); ${code === null ? "setInterval(() => {}, 1000)" : `process.exit(${code})`}`,
  ],
});

test("a server whose port was taken is started again with a fresh command", async () => {
  const made: string[] = [];
  const server = await startServer(() => {
    made.push("command");
    return made.length === 1
      ? fake("Error: listen EADDRINUSE: address already in use 127.0.0.1:4111", 1)
      : fake("listening on http://127.0.0.1:4112", null);
  }, {});
  assert.equal(made.length, 2);
  assert.equal(server.port, 4112);
  await server.stop("SIGKILL");
});

test("any other failure to start is reported at once, with what the server printed", async () => {
  let made = 0;
  await assert.rejects(
    startServer(() => {
      made++;
      return fake("PARLEY_MAX_MESSAGE_BYTES: not a number", 1);
    }, {}),
    /exited \(1\) before listening:\n.*not a number/,
  );
  assert.equal(made, 1);
});
