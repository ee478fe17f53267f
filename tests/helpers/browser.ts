/**
 * Debian's Chromium, driven by playwright-core. This network is closed: the flags stop Chromium from
 * reaching out (updates, sync, QUIC probes), and each launch gets a fresh profile.
 */
import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";

/** The Chromium binary: $CHROMIUM_PATH, else where Debian's `chromium` package puts it. */
export function chromiumPath(): string | undefined {
  const candidates = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"];
  return candidates.find((p): p is string => !!p && existsSync(p));
}

export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * Launch Chromium. Playwright gives every launch a fresh --user-data-dir of its own (it refuses one in
 * `args`), and each `newContext()` is a separate user with its own storage.
 */
export async function launchChromium(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!executablePath) throw new Error("no Chromium: apt-get install -y chromium, or set CHROMIUM_PATH");
  return chromium.launch({ executablePath, args: CHROMIUM_FLAGS });
}
