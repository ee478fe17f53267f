/**
 * The conversation pane (#log): the page's one MessageView, drawing the client's folded view of the room
 * (`client.messages`) after each change, the intro and the empty-room line, and paging older messages in
 * at the top.
 */
import { byId } from "./dom.ts";
import { editorFor } from "./edit.ts";
import type { Viewer } from "./message-item.ts";
import { MessageView } from "./messages.ts";
import { explain, showError } from "./notices.ts";
import { currentSession, isModerator, type Session, speaksV2 } from "./session.ts";

const list = byId<HTMLOListElement>("messages");
const log = byId("log");
const intro = byId("intro");
const empty = byId("empty");
const older = byId<HTMLButtonElement>("older");

/** The message list of the page, for every room it is in. */
export const view = new MessageView(list, log, older, byId<HTMLButtonElement>("jump"));

let userScrolledAt = 0;
/** Counts changes of the names the page knows: reaction tooltips name people, so they are drawn again. */
let namesVersion = 0;

/** The names known changed (a join, a rename): draw the messages again on the next refresh. */
export function namesChanged(): void {
  namesVersion++;
}

/** Draw the room's messages as the client's view now has them; returns those drawn for the first time. */
export function refresh() {
  const s = currentSession();
  if (!s) return [];
  const before = view.count();
  const added = view.sync(
    s.client.messages,
    viewerOf(s),
    `${s.client.me?.id}|${isModerator(s)}|${speaksV2(s)}|${namesVersion}`,
  );
  // The first messages shown: older ones may exist before them.
  const oldest = view.oldestSeq();
  if (before === 0 && oldest !== undefined) view.setMore(oldest > 1);
  showEmpty();
  return added;
}

function viewerOf(s: Session): Viewer {
  return {
    me: s.client.me?.id,
    moderator: isModerator(s),
    v2: speaksV2(s),
    name: (id) => s.names.get(id),
    editor: editorFor,
  };
}

/** Mark the message list busy while a backlog arrives, or done. */
export function setListBusy(busy: boolean): void {
  if (busy) list.setAttribute("aria-busy", "true");
  else list.removeAttribute("aria-busy");
}

/** Hide the welcome text, which only a page in no room shows. */
export function hideIntro(): void {
  intro.hidden = true;
}

/** Say "no messages yet" exactly when the page is in a room that shows none. */
export function showEmpty(): void {
  empty.hidden = !currentSession() || view.count() > 0;
}

async function loadOlder() {
  const s = currentSession();
  const before = view.oldestSeq();
  if (!s || s.loadingOlder || before === undefined || older.hidden) return;
  s.loadingOlder = true;
  older.setAttribute("aria-busy", "true");
  try {
    // The client merges the page into its view and says so (`change`): joining.ts draws it.
    const page = await s.client.history(before);
    if (currentSession() !== s) return;
    const fresh = page.messages.filter((m) => m.seq < before);
    view.setMore(page.more && fresh.length > 0);
  } catch (err) {
    if (currentSession() === s) showError(explain(err));
  } finally {
    s.loadingOlder = false;
    older.removeAttribute("aria-busy");
  }
}

older.addEventListener("click", () => void loadOlder());
// Reaching the top pages in older messages too, but only when a person scrolled there: layout and
// scrollIntoView also fire scroll events, and those must not load anything.
for (const type of ["wheel", "touchmove", "keydown"]) {
  log.addEventListener(type, () => (userScrolledAt = Date.now()), { passive: true });
}
log.addEventListener("scroll", () => {
  if (log.scrollTop < 64 && Date.now() - userScrolledAt < 1000) void loadOlder();
});
