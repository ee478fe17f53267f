/**
 * The README's screenshots: a real conversation on a real Node server, in Debian's Chromium, at desktop
 * and phone widths. `npm run screenshots` writes docs/screenshots/{desktop,phone}.png.
 */
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "../tests/helpers/browser.ts";
import { startServer } from "../tests/helpers/server.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outDir = join(root, "docs", "screenshots");
const room = "design-review";

const conversation: [string, string][] = [
  ["Ada", "Morning! Did everyone see the new mockups?"],
  ["Grace", "Yes, the sidebar reads much better now."],
  ["Linus", "Agreed. One nit: the timestamps could be lighter."],
  ["Ada", "Good call, I'll tone them down."],
  ["Grace", "Also, is <b>bold</b> rendered? (It should not be.)"],
  ["Linus", "Shows as text here, as it should."],
  ["Ada", "Shipping it after lunch then."],
];

async function user(browser: Browser, url: string, name: string, viewport: { width: number; height: number }) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  const page = await context.newPage();
  await page.goto(`${url}/`);
  await page.fill("#name-input", name);
  await page.fill("#room-input", room);
  await page.press("#name-input", "Enter");
  await page.waitForSelector('#status[data-state="live"]', { state: "attached" });
  return page;
}

async function say(page: Page, text: string) {
  await page.fill("#text", text);
  await page.press("#text", "Enter");
  // Under the default rate limit (2 per second per connection) and readable in order.
  await new Promise((r) => setTimeout(r, 150));
}

const server = await startServer(
  { cmd: process.execPath, args: ["--enable-source-maps", "dist/node.mjs"] },
  { PARLEY_DB: ":memory:" },
);
const browser = await launchChromium();
try {
  mkdirSync(outDir, { recursive: true });
  const desktop = { width: 1280, height: 800 };
  const pages: Record<string, Page> = {
    Ada: await user(browser, server.url, "Ada", desktop),
    Grace: await user(browser, server.url, "Grace", desktop),
    Linus: await user(browser, server.url, "Linus", desktop),
  };
  for (const [who, text] of conversation) await say(pages[who], text);
  // Grace is typing while the pictures are taken (after the 2 s typing throttle since her last message).
  await new Promise((r) => setTimeout(r, 2100));
  await pages.Grace.type("#text", "Lunch at noon?");
  const ada = pages.Ada;
  await ada.waitForFunction(() => (document.querySelector("#typing")?.textContent ?? "").includes("Grace"));
  await ada.screenshot({ path: join(outDir, "desktop.png") });

  const phone = await user(browser, server.url, "Margaret", { width: 390, height: 844 });
  await new Promise((r) => setTimeout(r, 2100));
  await pages.Grace.type("#text", " ");
  await phone.waitForFunction(() => (document.querySelector("#typing")?.textContent ?? "").includes("Grace"));
  await phone.screenshot({ path: join(outDir, "phone.png") });
  console.log(`wrote ${join(outDir, "desktop.png")} and ${join(outDir, "phone.png")}`);
} finally {
  await browser.close();
  await server.stop("SIGKILL");
}
