/**
 * The client as a package (issue 15, parts 4 and 5): `parley-chat` is built with tsc, packed with
 * `npm pack -w parley-chat`, and installed from the tarball in an empty directory, where it must bring
 * no server (no Hono, no SQLite). From there plain Node 20 ESM (with `ws`), Deno and Bun import
 * `parley-chat/client` and `parley-chat/protocol` as JavaScript and talk to a real server; and its
 * `parley-chat chat` command posts piped lines, and runs a room interactively through a server restart.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { denoBinary } from "../../scripts/start-deno.ts";
import { type Frame, join as joinRoom, terminateAll } from "../helpers/client.ts";
import { freshRoom } from "../helpers/fixtures.ts";
import { runtimes } from "../helpers/runtimes.ts";
import { freePort, type RunningServer, startServer, tempDir } from "../helpers/server.ts";
import { eventually, retry } from "../helpers/wait.ts";

const it = (name: string, fn: () => Promise<void>) => test(name, { timeout: 120_000 }, fn);
const root = process.cwd();

const USE = `// Plain ESM: the packed client against a real server (Node 20 with ws; Deno and Bun have WebSocket).
import { connect } from "parley-chat/client";
import { CLOSE, SUBPROTOCOL_V2 } from "parley-chat/protocol";
const [url, room, name] = process.argv.slice(2);
const WebSocket = globalThis.WebSocket ?? (await import("ws")).default;
const client = connect(url, { room, name, WebSocket });
const ack = await client.say("hello from " + name);
console.log(JSON.stringify({ seq: ack.seq, protocol: client.protocol, v2: SUBPROTOCOL_V2, normal: CLOSE.normal }));
client.close();
`;

describe("parley-chat, packed and installed", () => {
  let dir: string;
  let app: string;
  let server: RunningServer;
  let env: Record<string, string>;

  before(async () => {
    dir = tempDir();
    app = join(dir, "app");
    mkdirSync(app);
    execFileSync("npm", ["run", "build", "-w", "parley-chat"], { cwd: root, stdio: "ignore" });
    const packed = JSON.parse(
      execFileSync("npm", ["pack", "-w", "parley-chat", "--pack-destination", dir, "--json"], {
        cwd: root,
        encoding: "utf8",
      }),
    ) as { filename: string }[];
    writeFileSync(join(app, "package.json"), '{ "type": "module", "private": true }\n');
    execFileSync(
      "npm",
      ["install", "--prefer-offline", "--no-audit", "--no-fund", join(dir, packed[0]?.filename as string)],
      { cwd: app, stdio: "ignore" },
    );
    writeFileSync(join(app, "use.mjs"), USE);
    env = { PORT: String(await freePort()), PARLEY_DB: join(dir, "parley.db") };
    server = await startServer(() => runtimes.node.command(env), env);
  });
  const spawned: ChildProcess[] = [];
  after(async () => {
    for (const proc of spawned) proc.kill("SIGKILL");
    terminateAll();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { cwd: app, encoding: "utf8", timeout: 60_000 });
  const used = (out: string, name: string) => {
    const line = JSON.parse(out.trim().split("\n").at(-1) as string);
    assert.equal(typeof line.seq, "number", `${name}: acked with a seq`);
    assert.deepEqual([line.protocol, line.v2, line.normal], ["parley.v2", "parley.v2", 1000], name);
  };

  it("installs JavaScript with .d.ts files and no server: no hono, no SQLite, no TypeScript loader", async () => {
    const pkg = join(app, "node_modules", "parley-chat", "dist");
    for (const file of [
      "client/index.js",
      "client/index.d.ts",
      "protocol/index.js",
      "protocol/index.d.ts",
      "cli/main.js",
    ]) {
      assert.ok(existsSync(join(pkg, file)), file);
    }
    for (const server of ["hono", "better-sqlite3", "@hono/node-server", "tsx", "typescript"]) {
      assert.ok(!existsSync(join(app, "node_modules", server)), `${server} was installed`);
    }
  });

  it("plain Node 20 ESM imports it and talks to a real server (with ws)", async () => {
    used(run(process.execPath, ["use.mjs", server.url, freshRoom("pkg"), "node"]), "node");
  });

  it("Deno imports it from node_modules and talks to a real server", async () => {
    used(
      run(denoBinary(), [
        "run",
        "--allow-net=127.0.0.1",
        "--allow-read=.",
        "use.mjs",
        server.url,
        freshRoom("pkg"),
        "deno",
      ]),
      "deno",
    );
  });

  it("Bun imports it and talks to a real server", async () => {
    used(run(join(root, "node_modules", ".bin", "bun"), ["use.mjs", server.url, freshRoom("pkg"), "bun"]), "bun");
  });

  const cli = (args: string[]) => {
    const proc = spawn(
      process.execPath,
      [join(app, "node_modules", ".bin", "parley-chat"), "chat", server.url, ...args],
      {
        cwd: app,
        stdio: ["pipe", "pipe", "pipe"],
      },
    );
    spawned.push(proc);
    return proc;
  };
  const exitOf = (proc: ChildProcess) =>
    new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));

  it("chat, piped: posts each stdin line, skips blank ones, exits 0 once all are acked", async () => {
    const room = freshRoom("ops");
    const proc = cli(["--room", room, "--name", "cron"]);
    proc.stdin?.end("deployed v1\n\nall green\n");
    assert.equal(await exitOf(proc), 0);
    const page = (await (await fetch(`${server.url}/api/rooms/${room}/messages`)).json()) as { messages: Frame[] };
    assert.deepEqual(
      page.messages.map((m) => [(m.from as Frame).name, m.text]),
      [
        ["cron", "deployed v1"],
        ["cron", "all green"],
      ],
    );
  });

  it("chat, interactive: live messages, presence, typing, /rename, /history, text as text, a restart resumed, /quit", async () => {
    const room = freshRoom("tty");
    const proc = cli(["--room", room, "--name", "ada", "--interactive"]);
    let out = "";
    proc.stdout?.on("data", (d) => (out += d));
    const shows = (text: string) =>
      eventually(
        () => out.includes(text),
        () => `"${text}" in:\n${out}`,
        20_000,
      );
    await shows(`* in ${room} as ada`);
    await shows("* live");
    const bob = await joinRoom(`${server.wsUrl}/rooms/${room}/ws?name=bob`, { protocols: ["parley.v2"] });
    await shows("* bob joined");
    bob.client.send({ type: "typing" });
    await shows("* bob is typing…");
    // The server refuses escape sequences in a text, but a line break is a text's own: shown, it could
    // fake a line from someone else, so it is replaced too.
    bob.client.send({ type: "say", text: "hi\nada: a line ada never wrote\rX", ref: "b1" });
    await shows("bob: hi\ufffdada: a line ada never wrote\ufffdX");
    proc.stdin?.write("hello bob\n");
    assert.equal((await bob.client.next("message")).text, "hi\nada: a line ada never wrote\rX");
    assert.equal((await bob.client.next("message")).text, "hello bob");
    proc.stdin?.write("/rename ada2\n");
    assert.equal(((await bob.client.next("renamed")).user as Frame).name, "ada2");
    proc.stdin?.write("/history 5\n");
    await shows("* no older messages");
    await bob.client.close();

    // The server restarts on the same port and file: the client says so, and resumes.
    await server.stop();
    server = await startServer(() => runtimes.node.command(env), env);
    await shows("* reconnecting");
    await eventually(
      () => out.split("* live").length > 2,
      () => `live again in:\n${out}`,
      30_000,
    );
    proc.stdin?.write("after the restart\n");
    await retry(async () => {
      const page = (await (await fetch(`${server.url}/api/rooms/${room}/messages`)).json()) as { messages: Frame[] };
      assert.ok(
        page.messages.some((m) => m.text === "after the restart"),
        "the message said after the restart is stored",
      );
    }, 20_000);
    proc.stdin?.write("/quit\n");
    assert.equal(await exitOf(proc), 0);
    assert.match(out, new RegExp(`\\* left ${room}`));
  });
});
