/**
 * The README's screenshots: a real conversation on a real Node server, in Debian's Chromium, at desktop
 * and phone widths. `npm run screenshots` writes docs/screenshots/{desktop,phone}.png.
 *
 * Everyone signs in as an embedding app would have them (an HS256 access token in the page's URL); Ada
 * is the room's moderator. The desktop picture is Ada's page after a moderated conversation: a spam
 * message deleted and its author banned (the moderation line), an edit, a reply, and reactions. Emoji
 * need a colour emoji font (Debian: fonts-noto-color-emoji).
 */
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { SignJWT } from "jose";
import type { Browser, Locator, Page } from "playwright-core";
import { launchChromium } from "../tests/helpers/browser.ts";
import { startServer } from "../tests/helpers/server.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outDir = join(root, "docs", "screenshots");
const room = "design-review";
const secret = process.env.PARLEY_JWT_SECRET ?? randomBytes(32).toString("hex");

type Viewport = { width: number; height: number };

/** An access token as the embedding app would sign it. */
function accessToken(sub: string, name: string, role?: "moderator"): Promise<string> {
  return new SignJWT({ name, ...(role && { role }) })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime("1h")
    .sign(new TextEncoder().encode(secret));
}

async function user(browser: Browser, url: string, name: string, viewport: Viewport, role?: "moderator") {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  const page = await context.newPage();
  await page.goto(`${url}/?room=${room}&access_token=${await accessToken(name.toLowerCase(), name, role)}`);
  await page.waitForSelector('#status[data-state="live"]', { state: "attached" });
  return page;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Say `text` (as a reply to `replyTo`, a message's text, when given); resolves once `page` shows it. */
async function say(page: Page, text: string, replyTo?: string) {
  if (replyTo) await act(message(page, replyTo), "reply");
  await page.fill("#text", text);
  await page.press("#text", "Enter");
  await message(page, text).waitFor();
  // Under the default rate limit (2 per second per connection) and readable in order.
  await pause(150);
}

const message = (page: Page, text: string): Locator =>
  page.locator("#messages li.message", { has: page.locator(".text", { hasText: text }) }).last();

/** Use one of a message's actions, as a person would: point at the message, then click. */
async function act(li: Locator, action: string) {
  await li.hover();
  await li.locator(`[data-action="${action}"]`).click();
}

async function react(page: Page, text: string, emoji: string) {
  await act(message(page, text), "react");
  await page.locator(".menu [role=menuitemcheckbox]", { hasText: emoji }).click();
  await pause(150);
}

const server = await startServer(
  { cmd: process.execPath, args: ["--enable-source-maps", "dist/node.mjs"] },
  { PARLEY_DB: ":memory:", PARLEY_JWT_SECRET: secret },
);
const browser = await launchChromium();
try {
  mkdirSync(outDir, { recursive: true });
  const desktop = { width: 1280, height: 800 };
  const ada = await user(browser, server.url, "Ada", desktop, "moderator");
  const grace = await user(browser, server.url, "Grace", desktop);
  const linus = await user(browser, server.url, "Linus", desktop);
  const spammer = await user(browser, server.url, "deals4u", desktop);

  await say(grace, "Morning! The new sidebar reads much better.");
  await say(spammer, "🔥 10,000 FOLLOWERS FOR $5 → http://spam.example");
  await say(linus, "Agreed. One nit: the timestamps could be lighter.");

  // Ada removes the spam, then its author: delete from the message's menu, ban from the member list.
  await message(ada, "FOLLOWERS").waitFor();
  await act(message(ada, "FOLLOWERS"), "more");
  await ada.locator(".menu [role=menuitem]", { hasText: "Delete" }).click();
  await ada.click("#dialog-ok");
  await ada.locator("li.deleted").waitFor();
  await ada.click('#members li:has(.member-name:text-is("deals4u")) .member-menu');
  await ada.locator(".menu [role=menuitem]", { hasText: "Ban deals4u" }).click();
  await ada.selectOption("#dialog-duration", { label: "1 day" });
  await ada.fill("#dialog-reason", "spam");
  await ada.click("#dialog-ok");
  await ada.locator("#messages li.system").waitFor();

  await say(ada, "Good call, I'll tone them down.", "timestamps could be lighter");
  await say(grace, "Also, is <b>bold</b> rendred? (It should not be.)");
  // Grace fixes her typo: the message shows "edited" for everyone.
  await act(message(grace, "rendred"), "more");
  await grace.locator(".menu [role=menuitem]", { hasText: "Edit" }).click();
  await grace.locator("#messages textarea").fill("Also, is <b>bold</b> rendered? (It should not be.)");
  await grace.press("#messages textarea", "Enter");
  await message(ada, "rendered?").locator(".edited").waitFor();
  await say(linus, "Shows as text here, as it should.");
  await say(ada, "Shipping it after lunch then.");

  await react(ada, "new sidebar reads much better", "❤️");
  await react(grace, "Shipping it after lunch", "🎉");
  await react(linus, "Shipping it after lunch", "🎉");
  await react(grace, "Shipping it after lunch", "👍");
  await ada.waitForFunction(() => document.querySelectorAll("#messages .reaction").length === 3);

  // Grace is typing while the pictures are taken (after the 2 s typing throttle since her last message).
  await pause(2100);
  await grace.type("#text", "Lunch at noon?");
  await ada.waitForFunction(() => (document.querySelector("#typing")?.textContent ?? "").includes("Grace"));
  // Ada is back in the composer, and points at Linus's last message: its actions show.
  await ada.focus("#text");
  await message(ada, "Shows as text here").hover();
  await pause(200);
  await ada.screenshot({ path: join(outDir, "desktop.png") });

  const phone = await user(browser, server.url, "Margaret", { width: 390, height: 844 });
  await pause(2100);
  await grace.type("#text", " ");
  await phone.waitForFunction(() => (document.querySelector("#typing")?.textContent ?? "").includes("Grace"));
  await phone.screenshot({ path: join(outDir, "phone.png") });
  console.log(`wrote ${join(outDir, "desktop.png")} and ${join(outDir, "phone.png")}`);
} finally {
  await browser.close();
  await server.stop("SIGKILL");
}
