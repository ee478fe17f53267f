/**
 * The browser suite's v2 part (PROTOCOL-v2 sections 1–3 on the chat page): signing in through the page's
 * URL, editing, deleting, reacting, replying, and a moderator removing a spammer, with several signed
 * users in Chromium against one real server per runtime. suite.ts registers it for each runtime.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Browser, Locator, Page } from "playwright-core";
import { launchChromium } from "../helpers/browser.ts";
import { join } from "../helpers/client.ts";
import { freshRoom } from "../helpers/fixtures.ts";
import type { Runtime } from "../helpers/runtimes.ts";
import { freePort, type RunningServer, startServer, tempDir } from "../helpers/server.ts";
import { expiredToken, signToken, TEST_JWT_SECRET, type TokenClaims } from "../helpers/tokens.ts";

type Watched = Page & { problems: string[] };

/** Register the v2 browser cases for one runtime. */
export function browserV2Suite(runtime: Runtime): void {
  describe(`browser v2: ${runtime.name}`, { timeout: 300_000 }, () => {
    let browser: Browser;
    let server: RunningServer;
    const others: RunningServer[] = [];

    before(async () => {
      browser = await launchChromium();
      // One server for the part: every case has rooms of its own, and every user here is signed (an
      // anonymous ban would reach every anonymous page of 127.0.0.1, the address group they share).
      const env = { PARLEY_DB: ":memory:", PARLEY_JWT_SECRET: TEST_JWT_SECRET };
      server = await startServer(() => runtime.command(env), env);
    });
    after(async () => {
      await browser?.close();
      await Promise.all([server, ...others].map((s) => s?.stop("SIGKILL")));
    });

    /** A new browser user (own storage) on the chat page, opened as `/?room=…&access_token=…`. */
    async function signedIn(room: string, claims: TokenClaims, on = server): Promise<Watched> {
      const page = await newPage();
      await page.goto(`${on.url}/?room=${room}&access_token=${await signToken(claims)}`);
      await live(page);
      return page;
    }
    async function newPage(): Promise<Watched> {
      const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
      const page = (await context.newPage()) as Watched;
      page.problems = [];
      page.on("pageerror", (err) => page.problems.push(String(err)));
      page.on("console", (msg) => msg.type() === "error" && page.problems.push(msg.text()));
      return page;
    }
    const waitState = (page: Page, state: string, timeout = 15_000) =>
      page.waitForSelector(`#status[data-state="${state}"]`, { state: "attached", timeout });
    const live = (page: Page) => waitState(page, "live");
    // Predicates are functions, not strings: the page's CSP (script-src 'self') forbids eval.
    const waitFor = (page: Page, fn: (arg: number) => boolean, arg = 0) =>
      page.waitForFunction(fn, arg, { timeout: 15_000 });
    const message = (page: Page, text: string): Locator =>
      page.locator("#messages li.message", { has: page.locator(".text", { hasText: text }) });
    const bySeq = (page: Page, seq: number): Locator => page.locator(`#messages li.message[data-seq="${seq}"]`);
    const texts = (page: Page) => page.$$eval("#messages li.message .text", (els) => els.map((e) => e.textContent));
    async function send(page: Page, text: string) {
      await page.fill("#text", text);
      await page.press("#text", "Enter");
    }
    /** Wait until `page` shows `count` messages; returns their seqs. */
    async function shown(page: Page, count: number): Promise<number[]> {
      await waitFor(page, (n) => document.querySelectorAll("#messages li.message").length === n, count);
      return page.$$eval("#messages li.message", (els) => els.map((e) => Number((e as HTMLElement).dataset.seq)));
    }
    /** Point at a message (its actions show on hover) and use one of them. */
    async function act(li: Locator, action: string) {
      await li.hover();
      await li.locator(`[data-action="${action}"]`).click();
    }
    /** Choose a menu item by its words. */
    const choose = (page: Page, text: string) => page.locator(".menu [role^=menuitem]", { hasText: text }).click();
    const noProblems = (...pages: Watched[]) => {
      for (const page of pages) assert.deepEqual(page.problems, [], "no script errors");
    };
    const closeAll = (...pages: Page[]) => Promise.all(pages.map((p) => p.context().close()));

    test("signing in: the token leaves the address bar, the name is the token's, a bad token says why", async () => {
      const room = freshRoom("signin");
      const alice = await signedIn(room, { sub: "alice", name: "Alice" });
      assert.equal(new URL(alice.url()).searchParams.get("access_token"), null, "the token is off the address bar");
      assert.equal(await alice.getAttribute("#share-link", "href"), `${server.url}/?room=${room}`);
      assert.ok(await alice.isDisabled("#rename-input"));
      assert.ok(await alice.isDisabled("#name-input"));
      assert.match(
        (await alice.textContent("#rename-note")) ?? "",
        /Signed in as Alice\. Your name comes from your sign-in/,
      );
      assert.equal(await alice.textContent("#members li .member-name"), "Alice");
      // A reload is still signed in (the tab kept the token), as the same user.
      await alice.reload();
      await live(alice);
      assert.equal(await alice.textContent("#members li .member-name"), "Alice");
      assert.equal(await alice.locator("#members li").count(), 1);

      // A token the embedding app stored works the same.
      const bob = await newPage();
      await bob.goto(`${server.url}/`);
      const token = await signToken({ sub: "bob", name: "Bob" });
      await bob.evaluate((t) => localStorage.setItem("parley.accessToken", t), token);
      await bob.goto(`${server.url}/?room=${room}`);
      await live(bob);
      await waitFor(bob, () => document.querySelectorAll("#members li").length === 2);
      assert.ok(await bob.isDisabled("#rename-input"));

      // An expired token stops the page with the reason, and nothing falls back to anonymous.
      const late = await newPage();
      await late.goto(`${server.url}/?room=${room}&access_token=${await expiredToken({ sub: "carol" })}`);
      await waitState(late, "stopped");
      assert.match((await late.textContent("#status")) ?? "", /^Sign-in refused/);
      // A token for other rooms (the `rooms` claim) is refused here with 403, and says so.
      const elsewhere = await newPage();
      await elsewhere.goto(
        `${server.url}/?room=${room}&access_token=${await signToken({ sub: "dan", rooms: ["team-*"] })}`,
      );
      await waitState(elsewhere, "stopped");
      assert.equal(
        await elsewhere.textContent("#status"),
        "Not allowed in this room: the access token does not grant this room",
      );
      assert.equal(await alice.locator("#members li").count(), 2);
      noProblems(alice, bob);
      await closeAll(alice, bob, late, elsewhere);
    });

    test("editing and deleting one's own messages shows live, and after a reload", async () => {
      const room = freshRoom("edit");
      const alice = await signedIn(room, { sub: "alice", name: "Alice" });
      const bob = await signedIn(room, { sub: "bob", name: "Bob" });
      await send(alice, "teh plan is ready");
      await send(alice, "wrong room, sorry");
      const [first, second] = await shown(bob, 2);

      // Edit from the message's menu.
      await act(bySeq(alice, first), "more");
      await choose(alice, "Edit");
      const field = bySeq(alice, first).locator("textarea");
      assert.equal(await field.inputValue(), "teh plan is ready");
      await field.fill("the plan is ready");
      await field.press("Enter");
      for (const page of [alice, bob]) {
        await message(page, "the plan is ready").locator(".edited").waitFor();
        assert.equal(
          await bySeq(page, first)
            .locator(".stamp")
            .textContent()
            .then((t) => t?.includes("edited")),
          true,
        );
      }
      // Escape leaves an edit as it was; ↑ in the empty composer edits the last message.
      await alice.focus("#text");
      await alice.press("#text", "ArrowUp");
      const last = bySeq(alice, second).locator("textarea");
      await last.waitFor();
      await last.fill("not this");
      await last.press("Escape");
      assert.equal(await bySeq(alice, second).locator(".text").textContent(), "wrong room, sorry");

      // Bob may neither edit nor delete Alice's messages: he has no "more" on them.
      await bySeq(bob, first).hover();
      assert.equal(await bySeq(bob, first).locator('[data-action="more"]').count(), 0);

      // Delete, through the confirmation.
      await act(bySeq(alice, second), "more");
      await choose(alice, "Delete");
      assert.match((await alice.textContent("#dialog-title")) ?? "", /Delete this message/);
      await alice.click("#dialog-ok");
      for (const page of [alice, bob]) {
        await bySeq(page, second).locator(".text.gone").waitFor();
        assert.equal(await bySeq(page, second).locator(".text").textContent(), "message deleted");
        assert.ok(await bySeq(page, second).evaluate((li) => li.classList.contains("deleted")));
      }
      // After a reload the folded history says the same.
      await bob.reload();
      await live(bob);
      await shown(bob, 2);
      assert.deepEqual(await texts(bob), ["the plan is ready", "message deleted"]);
      assert.equal(await bySeq(bob, first).locator(".edited").count(), 1);
      noProblems(alice, bob);
      await closeAll(alice, bob);
    });

    test("reactions: the picker (by keyboard), counts, who reacted, taking one back", async () => {
      const room = freshRoom("react");
      const alice = await signedIn(room, { sub: "alice", name: "Alice" });
      const bob = await signedIn(room, { sub: "bob", name: "Bob" });
      await send(alice, "Ship it on Friday?");
      const [seq] = await shown(bob, 1);

      // Bob, by keyboard: the react button, then the picker's arrows; Escape closes it, focus goes back.
      const react = bySeq(bob, seq).locator('[data-action="react"]');
      await react.focus();
      await bob.keyboard.press("Enter");
      await bob.locator('.menu[aria-label="Reactions"]').waitFor();
      assert.equal(await react.getAttribute("aria-expanded"), "true");
      await bob.keyboard.press("Escape");
      assert.equal(await bob.locator(".menu").count(), 0);
      assert.ok(await react.evaluate((b) => b === document.activeElement), "focus is back on the react button");
      await bob.keyboard.press("Enter");
      await bob.keyboard.press("ArrowRight");
      assert.equal(await bob.evaluate(() => document.activeElement?.getAttribute("aria-label")), "React with heart");
      await bob.keyboard.press("Enter");

      const heart = (page: Page) => bySeq(page, seq).locator('.reaction[data-emoji="❤️"]');
      await heart(alice).waitFor();
      assert.equal(await heart(alice).locator(".reaction-count").textContent(), "1");
      assert.match((await heart(alice).getAttribute("title")) ?? "", /Bob reacted with ❤️/);
      assert.equal(await heart(alice).getAttribute("aria-pressed"), "false");
      assert.equal(await heart(bob).getAttribute("aria-pressed"), "true");

      // Alice adds hers from the count; the tooltip names both. Only the counts are drawn again (the list
      // is aria-live: a screen reader hears what is put in), and focus stays on the count.
      const text = bySeq(alice, seq).locator(".text");
      await text.evaluate((p) => Object.assign(p, { marked: true }));
      await heart(alice).focus();
      await alice.keyboard.press("Enter");
      for (const page of [alice, bob]) {
        await waitFor(
          page,
          (s) => document.querySelector(`li[data-seq="${s}"] .reaction .reaction-count`)?.textContent === "2",
          seq,
        );
      }
      assert.equal(await heart(alice).getAttribute("aria-pressed"), "true");
      assert.equal(await alice.evaluate(() => document.activeElement?.getAttribute("data-key")), "reaction:❤️");
      assert.ok(await text.evaluate((p) => "marked" in p), "the text was not drawn again");
      assert.match((await heart(bob).getAttribute("title")) ?? "", /Alice/);
      // The picker shows Alice's own reaction as given; choosing it again takes it back.
      await act(bySeq(alice, seq), "react");
      const given = alice.locator('.menu [aria-label="Take back your heart reaction"]');
      assert.equal(await given.getAttribute("aria-checked"), "true");
      await given.click();
      await waitFor(
        bob,
        (s) => document.querySelector(`li[data-seq="${s}"] .reaction .reaction-count`)?.textContent === "1",
        seq,
      );
      // Bob takes his back from the count: no reaction is left.
      await heart(bob).click();
      await waitFor(alice, (s) => !document.querySelector(`li[data-seq="${s}"] .reaction`), seq);

      // A reaction a reload finds in the folded history.
      await act(bySeq(bob, seq), "react");
      await choose(bob, "🎉");
      await bySeq(alice, seq).locator('.reaction[data-emoji="🎉"]').waitFor();
      await alice.reload();
      await live(alice);
      await bySeq(alice, seq).locator('.reaction[data-emoji="🎉"]').waitFor();
      // Every control on the messages is a button with words for a screen reader.
      const unlabelled = await alice.$$eval("#messages button, #members button", (buttons) =>
        buttons.filter((b) => !(b.getAttribute("aria-label") || b.textContent?.trim())).map((b) => b.outerHTML),
      );
      assert.deepEqual(unlabelled, []);
      noProblems(alice, bob);
      await closeAll(alice, bob);
    });

    test("replying: a quote bar with a cancel, the quote in the reply, and 'message deleted' once the original goes", async () => {
      const room = freshRoom("reply");
      const alice = await signedIn(room, { sub: "alice", name: "Alice" });
      const bob = await signedIn(room, { sub: "bob", name: "Bob" });
      await send(alice, "Lunch at noon?");
      const [original] = await shown(bob, 1);

      await act(bySeq(bob, original), "reply");
      assert.equal(await bob.isVisible("#reply-bar"), true);
      assert.equal(await bob.textContent("#reply-quote"), "Replying to Alice: Lunch at noon?");
      assert.ok(await bob.evaluate(() => document.activeElement?.id === "text"), "the composer has focus");
      await bob.click("#reply-cancel");
      assert.equal(await bob.isVisible("#reply-bar"), false);
      // Escape in an empty composer cancels too.
      await act(bySeq(bob, original), "reply");
      await bob.press("#text", "Escape");
      assert.equal(await bob.isVisible("#reply-bar"), false);

      await act(bySeq(bob, original), "reply");
      await send(bob, "Yes, see you there");
      assert.equal(await bob.isVisible("#reply-bar"), false);
      const [, reply] = await shown(alice, 2);
      for (const page of [alice, bob]) {
        const quote = bySeq(page, reply).locator(".quote");
        await quote.waitFor();
        assert.equal(await quote.locator(".quote-author").textContent(), "Alice");
        assert.equal(await quote.locator(".quote-text").textContent(), "Lunch at noon?");
      }
      // The quote leads to the original.
      await bySeq(alice, reply).locator(".quote").click();
      assert.ok(await bySeq(alice, original).evaluate((li) => li === document.activeElement));

      // The original is deleted: the quote says so, live and after a reload.
      await act(bySeq(alice, original), "more");
      await choose(alice, "Delete");
      await alice.click("#dialog-ok");
      for (const page of [alice, bob]) {
        await waitFor(
          page,
          (s) => document.querySelector(`li[data-seq="${s}"] .quote .quote-text`)?.textContent === "message deleted",
          reply,
        );
      }
      await bob.reload();
      await live(bob);
      await shown(bob, 2);
      assert.equal(await bySeq(bob, reply).locator(".quote-text").textContent(), "message deleted");
      noProblems(alice, bob);
      await closeAll(alice, bob);
    });

    test("what changed while a page was away (edit, reaction, deletion, moderation) shows once it resumes", async () => {
      const env = {
        PARLEY_DB: `${tempDir()}/parley.db`,
        PORT: String(await freePort()),
        PARLEY_JWT_SECRET: TEST_JWT_SECRET,
      };
      let restartable = await startServer(() => runtime.command(env), env);
      others.push(restartable);
      const room = freshRoom("resume");
      // Alice (a moderator) and Carol are test clients on v2; Bob is the page.
      const socket = async (claims: TokenClaims) =>
        join(`${restartable.wsUrl}/rooms/${room}/ws?access_token=${await signToken(claims)}`, {
          protocols: ["parley.v2"],
        });
      const aliceClaims: TokenClaims = { sub: "alice", name: "Alice", role: "moderator" };
      let alice = await socket(aliceClaims);
      const carol = await socket({ sub: "carol", name: "Carol" });
      const carolId = (carol.welcome.you as { id: string }).id;
      await carol.client.close();
      const bob = await signedIn(room, { sub: "bob", name: "Bob" }, restartable);
      const said: number[] = [];
      for (const text of ["teh plan", "lunch at 12?"]) {
        alice.client.send({ type: "say", text, ref: text });
        said.push((await alice.client.next("ack")).seq as number);
      }
      await shown(bob, 2);

      await restartable.stop("SIGKILL");
      await waitState(bob, "reconnecting");
      restartable = await startServer(() => runtime.command(env), env);
      others.push(restartable);
      // Alice is back first and acts while the page still waits to retry.
      alice = await socket(aliceClaims);
      const [plan, lunch] = said;
      for (const frame of [
        { type: "edit", target: plan, text: "the plan" },
        { type: "react", target: plan, emoji: "👍" },
        { type: "delete", target: lunch },
        { type: "mute", user: carolId, minutes: 10, reason: "too loud" },
      ]) {
        alice.client.send({ ...frame, ref: frame.type });
        assert.equal((await alice.client.next("ack")).ref, frame.type);
      }
      await waitState(bob, "live", 60_000);
      await bySeq(bob, plan).locator(".edited").waitFor();
      assert.deepEqual(await texts(bob), ["the plan", "message deleted"]);
      assert.equal(await bySeq(bob, plan).locator('.reaction[data-emoji="👍"] .reaction-count').textContent(), "1");
      await bob.locator("#messages li.system").waitFor();
      assert.equal(
        await bob.textContent("#messages li.system .system-text"),
        "Alice muted Carol for 10 minutes: too loud",
      );
      await alice.client.close();
      await closeAll(bob);
    });

    test("a moderator removes a spammer: deletes the spam, bans by the member list; the spammer's page says why", async () => {
      const room = freshRoom("mod");
      const mo = await signedIn(room, { sub: "mo", name: "Mo", role: "moderator" });
      const eve = await signedIn(room, { sub: "eve", name: "Eve" });
      const sam = await signedIn(room, { sub: "sam", name: "Sam" });
      const ann = await signedIn(room, { sub: "ann", name: "Ann" });
      await send(eve, "BUY CHEAP PILLS http://spam.example");
      const [spam] = await shown(mo, 1);
      // A member has no moderation controls; a moderator has them on everyone else.
      assert.equal(await ann.locator("#members .member-menu").count(), 0);
      await bySeq(ann, spam).hover();
      assert.equal(await bySeq(ann, spam).locator('[data-action="more"]').count(), 0);
      assert.equal(await mo.locator("#members .member-menu").count(), 3);
      assert.equal(await mo.locator('#members li:has(.member-name:text-is("Mo")) .badge').textContent(), "mod");

      // Delete the spam from its menu.
      await act(bySeq(mo, spam), "more");
      await choose(mo, "Delete");
      await mo.click("#dialog-ok");
      for (const page of [mo, eve, ann]) await bySeq(page, spam).locator(".text.gone").waitFor();

      // Ban Eve from the member list, by keyboard: the menu, then the dialog (a day, with a reason).
      await mo.locator('#members li:has(.member-name:text-is("Eve")) .member-menu').focus();
      await mo.keyboard.press("Enter");
      await mo.locator(".menu [role=menuitem]", { hasText: "Ban Eve" }).waitFor();
      await mo.keyboard.press("End");
      assert.equal(await mo.evaluate(() => document.activeElement?.textContent), "Ban Eve…");
      await mo.keyboard.press("Enter");
      await mo.selectOption("#dialog-duration", { label: "1 day" });
      await mo.fill("#dialog-reason", "spam");
      await mo.click("#dialog-ok");

      await waitState(eve, "stopped");
      assert.equal(await eve.textContent("#status"), "Banned from this room");
      assert.ok(await eve.isDisabled("#send"));
      assert.equal(await eve.isVisible("#rejoin"), false, "a ban is not worth a reconnect");
      for (const page of [mo, ann]) {
        await page.locator("#messages li.system").waitFor();
        assert.equal(await page.textContent("#messages li.system .system-text"), "Mo banned Eve for 1 day: spam");
        await waitFor(page, () => !document.querySelector("#members")?.textContent?.includes("Eve"));
      }
      // Eve's next visit is refused, and says why.
      await eve.reload();
      await waitState(eve, "stopped");
      assert.equal(await eve.textContent("#status"), "Banned from this room");

      // Mute Sam from his message's author menu: his next message is refused; then kick him.
      await send(sam, "first!!!");
      const [, samSeq] = await shown(mo, 2);
      await act(bySeq(mo, samSeq), "more");
      await choose(mo, "Mute Sam");
      assert.equal(await mo.textContent("#dialog-title"), "Mute Sam?");
      await mo.click("#dialog-ok");
      await waitFor(mo, () => document.querySelectorAll("#messages li.system").length === 2);
      assert.equal(
        await mo.textContent("#messages li.system >> nth=1"),
        await ann.textContent("#messages li.system >> nth=1"),
      );
      assert.match((await mo.textContent("#messages li.system >> nth=1")) ?? "", /Mo muted Sam for 10 minutes/);
      await send(sam, "second!!!");
      await waitFor(sam, () => /muted/.test(document.querySelector("#error")?.textContent ?? ""));
      await act(bySeq(mo, samSeq), "more");
      await choose(mo, "Kick Sam");
      await mo.click("#dialog-ok");
      await waitState(sam, "stopped");
      assert.equal(await sam.textContent("#status"), "Removed by a moderator");
      assert.equal(await sam.isVisible("#rejoin"), true, "a kicked user may join again");
      await waitFor(ann, () =>
        /Mo removed Sam from the room/.test(document.querySelector("#messages")?.textContent ?? ""),
      );
      noProblems(mo, ann);
      await closeAll(mo, eve, sam, ann);
    });
  });
}
