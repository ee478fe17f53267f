/**
 * Signing in is the embedding application's job (PROTOCOL-v2 section 2): it opens the page with
 * `?access_token=…`, or stores a token under `localStorage["parley.accessToken"]`. The page takes the
 * URL's token off the address bar at once (history.replaceState), so that it is neither bookmarked nor
 * shared with the invite link, and keeps it for this tab only (sessionStorage), so that a reload stays
 * signed in. Without a token the page is anonymous, as in v1.
 */
import { saved } from "./dom.ts";

/** Where an embedding application may leave an access token for the page. */
export const ACCESS_TOKEN_KEY = "parley.accessToken";
/** Where the page keeps the URL's token for this tab. */
const TAB_KEY = "parley:access-token";

let fromUrl: string | undefined;

/** Take `?access_token=` off the page's address (call once, before anything reads the URL or shares it). */
export function takeTokenFromUrl(): void {
  const url = new URL(location.href);
  const token = url.searchParams.get("access_token");
  if (token === null) return;
  url.searchParams.delete("access_token");
  history.replaceState(history.state, "", url.href);
  if (!token) return;
  fromUrl = token;
  try {
    sessionStorage.setItem(TAB_KEY, token);
  } catch {
    // Without storage the token lasts as long as the page.
  }
}

/**
 * The access token to connect with now: the URL's, else this tab's, else the embedding app's (read
 * again before every connect, so a token the app refreshes is the one a reconnect presents).
 */
export function accessToken(): string | undefined {
  if (fromUrl) return fromUrl;
  let tab: string | null = null;
  try {
    tab = sessionStorage.getItem(TAB_KEY);
  } catch {}
  return tab || saved.get(ACCESS_TOKEN_KEY) || undefined;
}
