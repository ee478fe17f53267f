/**
 * The chat page's script (bundled by scripts/build-page.ts with the client it imports). It wires the
 * typed client to the DOM of index.ts; user text only ever reaches the page through textContent.
 *
 * The modules, one part of the page each: signin.ts (the embedding app's access token), joining.ts (a
 * room's client and its events, the status line, the title), session.ts (the room the page is in),
 * panel.ts (the side panel and recent rooms), forms.ts (its forms), people.ts (members and the typing
 * line), timeline.ts (the conversation drawn from the client's folded view, and older messages, over
 * messages.ts and message-item.ts), message-actions.ts (the controls on messages), reactions.ts,
 * reply.ts, edit.ts, moderation.ts (a moderator's mute, kick and ban), menu.ts and dialog.ts (the popup
 * menus and the modal dialog they use), composer.ts (writing, and messages not yet acknowledged),
 * notices.ts (the error line), icons.ts. This file picks the first room.
 */
import { checkName, ROOM_NAME } from "../protocol/constants.ts";
import { focusComposer } from "./composer.ts";
import { saved } from "./dom.ts";
import { ROOM_NAME_TEXT } from "./format.ts";
// For their listeners: nothing else imports the forms or the messages' controls.
import "./forms.ts";
import "./message-actions.ts";
import { join } from "./joining.ts";
import { showError } from "./notices.ts";
import { NAME_KEY, nameInput, recentRooms, renderRecent, roomInput, setPanel, showSignedIn } from "./panel.ts";
import { accessToken, takeTokenFromUrl } from "./signin.ts";

function start() {
  // First: the token must leave the address bar before anything can bookmark, share or log the URL.
  takeTokenFromUrl();
  renderRecent(recentRooms());
  nameInput.value = saved.get(NAME_KEY) ?? "";
  showSignedIn(undefined, accessToken() !== undefined);
  const wanted = new URLSearchParams(location.search).get("room");
  if (wanted && ROOM_NAME.test(wanted)) {
    const stored = checkName(nameInput.value);
    join(wanted, stored.ok ? stored.name : undefined);
    focusComposer();
    return;
  }
  if (wanted) showError(`That link names a room that can't exist: room names are ${ROOM_NAME_TEXT}.`);
  setPanel(true);
  if (matchMedia("(pointer: fine)").matches) (nameInput.value || nameInput.disabled ? roomInput : nameInput).focus();
}

start();
