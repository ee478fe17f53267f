/**
 * The chat page's script (bundled by scripts/build-page.ts with the client it imports). It wires the
 * typed client to the DOM of index.ts; user text only ever reaches the page through textContent.
 *
 * The modules, one part of the page each: joining.ts (a room's client and its events, the status line,
 * the title), session.ts (the room the page is in), panel.ts (the side panel and recent rooms), forms.ts
 * (its forms), people.ts (members and the typing line), timeline.ts (the conversation and older
 * messages, over messages.ts), composer.ts (writing, and messages not yet acknowledged), notices.ts
 * (the error line). This file picks the first room.
 */
import { checkName, ROOM_NAME } from "../protocol/constants.ts";
import { focusComposer } from "./composer.ts";
import { saved } from "./dom.ts";
import { ROOM_NAME_TEXT } from "./format.ts";
// For its listeners: nothing else imports the forms.
import "./forms.ts";
import { join } from "./joining.ts";
import { showError } from "./notices.ts";
import { NAME_KEY, nameInput, recentRooms, renderRecent, roomInput, setPanel } from "./panel.ts";

function start() {
  renderRecent(recentRooms());
  nameInput.value = saved.get(NAME_KEY) ?? "";
  const wanted = new URLSearchParams(location.search).get("room");
  if (wanted && ROOM_NAME.test(wanted)) {
    const stored = checkName(nameInput.value);
    join(wanted, stored.ok ? stored.name : undefined);
    focusComposer();
    return;
  }
  if (wanted) showError(`That link names a room that can't exist: room names are ${ROOM_NAME_TEXT}.`);
  setPanel(true);
  if (matchMedia("(pointer: fine)").matches) (nameInput.value ? roomInput : nameInput).focus();
}

start();
