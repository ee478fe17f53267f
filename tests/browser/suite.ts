/**
 * The browser suite: the chat page in Debian's Chromium against a real server, written once and run
 * against each runtime that a test file names (node.test.ts, workers.test.ts). Its v2 part (signed
 * users, edits, deletions, reactions, replies, moderation) is v2.ts.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "../helpers/browser.ts";
import { type Frame, join, terminateAll } from "../helpers/client.ts";
import { freshRoom } from "../helpers/fixtures.ts";
import type { Runtime } from "../helpers/runtimes.ts";
import { freePort, type RunningServer, startServer, tempDir } from "../helpers/server.ts";
import { browserV2Suite } from "./v2.ts";

/** Register the browser cases for one runtime. */
export function browserSuite(runtime: Runtime): void {
  describe(`browser: ${runtime.name}`, { timeout: 300_000 }, () => {
    let browser: Browser;
    const servers: RunningServer[] = [];
    const start = async (env: Record<string, string>) => {
      const server = await startServer(() => runtime.command(env), env);
      servers.push(server);
      return server;
    };

    before(async () => {
      browser = await launchChromium();
    });
    after(async () => {
      terminateAll();
      await browser?.close();
      await Promise.all(servers.map((s) => s.stop("SIGKILL")));
    });

    /** A new browser user (own storage) on the chat page, joined to `room` as `name`. */
    async function enter(server: RunningServer, room: string, name: string): Promise<Page> {
      const context = await browser.newContext();
      const page = await context.newPage();
      const problems: string[] = [];
      page.on("pageerror", (err) => problems.push(String(err)));
      page.on("console", (msg) => msg.type() === "error" && problems.push(msg.text()));
      (page as Page & { problems?: string[] }).problems = problems;
      await page.goto(`${server.url}/`);
      await page.fill("#room-input", room);
      await page.fill("#name-input", name);
      await page.press("#name-input", "Enter");
      await live(page);
      return page;
    }
    const live = (page: Page, timeout = 15_000) => waitState(page, "live", timeout);
    const texts = (page: Page) => page.$$eval("#messages li.message .text", (els) => els.map((e) => e.textContent));
    const seqs = (page: Page) =>
      page.$$eval("#messages li.message", (els) => els.map((e) => Number((e as HTMLElement).dataset.seq)));
    const members = (page: Page) => page.$$eval("#members li", (els) => els.map((e) => e.textContent).sort());
    // Predicates are functions, not strings: the page's CSP (script-src 'self') forbids eval.
    const waitCount = (page: Page, selector: string, count: number, timeout = 15_000) =>
      page.waitForFunction(([sel, n]) => document.querySelectorAll(sel as string).length === n, [selector, count], {
        timeout,
      });
    const waitTyping = (page: Page, name: string, shown: boolean) =>
      page.waitForFunction(
        ([who, on]) => (document.querySelector("#typing")?.textContent ?? "").includes(who as string) === on,
        [name, shown],
        { timeout: 15_000 },
      );
    const waitState = (page: Page, state: string, timeout = 15_000) =>
      page.waitForSelector(`#status[data-state="${state}"]`, { state: "attached", timeout });
    async function send(page: Page, text: string) {
      await page.fill("#text", text);
      await page.press("#text", "Enter");
    }

    test("two pages chat in one room; presence and typing show", async () => {
      const server = await start({ PARLEY_DB: ":memory:" });
      const room = freshRoom("browser");
      const ann = await enter(server, room, "ann");
      const bob = await enter(server, room, "bob");
      await waitCount(ann, "#members li", 2);
      assert.deepEqual(await members(ann), ["ann", "bob"]);
      assert.deepEqual(await members(bob), ["ann", "bob"]);

      await ann.type("#text", "hel");
      await waitTyping(bob, "ann", true);
      await ann.press("#text", "Enter");
      await waitCount(bob, "#messages li.message", 1);
      assert.deepEqual(await texts(bob), ["hel"]);
      assert.equal(await bob.textContent("#messages li.message .author"), "ann");
      // The typing line clears once ann's message is in.
      await waitTyping(bob, "ann", false);

      await send(bob, "hi ann");
      await waitCount(ann, "#messages li.message", 2);
      assert.deepEqual(await texts(ann), ["hel", "hi ann"]);
      assert.deepEqual(await seqs(ann), await seqs(bob));

      // A reload keeps the same user, through the token.
      const before = await (await fetch(`${server.url}/api/rooms/${room}`)).json();
      await bob.reload();
      await live(bob);
      assert.deepEqual(await texts(bob), ["hel", "hi ann"], "history on entry");
      const afterReload = await (await fetch(`${server.url}/api/rooms/${room}`)).json();
      assert.deepEqual(
        afterReload.members.map((u: Frame) => u.id).sort(),
        before.members.map((u: Frame) => u.id).sort(),
      );

      await bob.context().close();
      await waitCount(ann, "#members li", 1);
      assert.deepEqual(await members(ann), ["ann"]);
      for (const page of [ann]) assert.deepEqual((page as Page & { problems: string[] }).problems, []);
      await ann.context().close();
    });

    test("a page whose server restarts reconnects and shows every missed message exactly once", async () => {
      const env = { PARLEY_DB: `${tempDir()}/parley.db`, PORT: String(await freePort()) };
      let server = await start(env);
      const room = freshRoom("browser");
      const url = `${server.wsUrl}/rooms/${room}/ws?name=bot`;
      const bot = await join(url);
      const ann = await enter(server, room, "ann");
      for (const text of ["one", "two"]) {
        bot.client.send({ type: "say", text, ref: text });
        await bot.client.next("ack");
      }
      await waitCount(ann, "#messages li.message", 2);

      await server.stop("SIGKILL");
      await waitState(ann, "reconnecting");
      server = await start(env);
      // The bot is back first and talks while the page is still waiting to retry.
      const back = await join(`${url}&token=${bot.welcome.token}`);
      for (const text of ["three", "four", "five"]) {
        back.client.send({ type: "say", text, ref: text });
        await back.client.next("ack");
      }
      await live(ann, 60_000);
      await waitCount(ann, "#messages li.message", 5);
      // Time for a duplicate to show, were there one.
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(await seqs(ann), [1, 2, 3, 4, 5]);
      assert.deepEqual(await texts(ann), ["one", "two", "three", "four", "five"]);

      // And the page talks again.
      await send(ann, "I am back");
      assert.equal((await back.client.next("message")).text, "I am back");
      await ann.context().close();
    });

    test("a script-injection payload shows as plain text", async () => {
      const server = await start({ PARLEY_DB: ":memory:" });
      const room = freshRoom("browser");
      // Names are at most 32 characters.
      const evilName = `<img src=x onerror=__pwned=1>`;
      const payload = `<script>window.__pwned='script'</script><img src=x onerror="window.__pwned='img'"><b>bold</b>`;
      const mallory = await enter(server, room, evilName);
      const alice = await enter(server, room, "alice");
      await send(mallory, payload);
      await waitCount(alice, "#messages li.message", 1);
      for (const page of [alice, mallory]) {
        assert.deepEqual(await texts(page), [payload]);
        assert.equal(await page.textContent("#messages li.message .author"), evilName);
        assert.ok((await members(page)).includes(evilName));
        assert.equal(
          await page.$$eval("#messages img, #messages script, #messages b, #members img", (e) => e.length),
          0,
        );
        assert.equal(await page.evaluate(() => (window as unknown as { __pwned?: string }).__pwned), undefined);
      }
      await Promise.all([mallory.context().close(), alice.context().close()]);
    });
  });
  browserV2Suite(runtime);
}
