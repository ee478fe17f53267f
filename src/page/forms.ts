/** The side panel's forms: joining a room by name, creating a private one, and renaming. */
import type { ParleyError } from "../client/index.ts";
import { checkName, ROOM_NAME } from "../protocol/constants.ts";
import { focusComposer } from "./composer.ts";
import { byId, saved } from "./dom.ts";
import { errorText, nameRuleText, ROOM_NAME_TEXT } from "./format.ts";
import { join } from "./joining.ts";
import { clearError, explain, showError } from "./notices.ts";
import { NAME_KEY, nameInput, renameInput, roomInput, setPanel } from "./panel.ts";
import { currentSession, type Session } from "./session.ts";

const roomForm = byId<HTMLFormElement>("room-form");
const newRoom = byId<HTMLButtonElement>("new-room");
const renameForm = byId<HTMLFormElement>("rename-form");

function chosenName(): string | undefined | false {
  // Signed in: the name is the sign-in's, and the field is locked.
  if (nameInput.disabled) return undefined;
  const raw = nameInput.value;
  if (!raw.trim()) return undefined;
  const checked = checkName(raw);
  if (!checked.ok) {
    showError(`That name can't be used: ${nameRuleText(checked.rule)}.`);
    nameInput.focus();
    return false;
  }
  return checked.name;
}

function rename(s: Session, name: string) {
  // The client retries a rate-limited rename and asks again after a reconnect; only a refusal lands here.
  s.client.rename(name).catch((err: ParleyError) => {
    if (currentSession() === s && err.code !== "superseded" && err.code !== "stopped")
      showError(errorText(err.code, err.message));
  });
}

roomForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const room = roomInput.value.trim();
  const name = chosenName();
  if (name === false) return;
  if (!ROOM_NAME.test(room)) {
    showError(`Room names are ${ROOM_NAME_TEXT}.`);
    roomInput.focus();
    return;
  }
  if (!nameInput.disabled) saved.set(NAME_KEY, name);
  const s = currentSession();
  if (s && s.room === room && s.state.state !== "stopped") {
    // Already here: only the name can have changed.
    if (name && name !== s.client.me?.name) rename(s, name);
    setPanel(false);
    return;
  }
  join(room, name);
  focusComposer();
});

newRoom.addEventListener("click", async () => {
  const name = chosenName();
  if (name === false) return;
  newRoom.disabled = true;
  try {
    const res = await fetch("/api/rooms", { method: "POST" });
    const body = (await res.json().catch(() => undefined)) as { room?: unknown } | undefined;
    if (res.status !== 201 || typeof body?.room !== "string") throw new Error(`the server answered ${res.status}`);
    if (!nameInput.disabled) saved.set(NAME_KEY, name);
    join(body.room, name);
    focusComposer();
  } catch (err) {
    showError(`Couldn't create a private room: ${explain(err)}.`);
  } finally {
    newRoom.disabled = false;
  }
});

renameForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const s = currentSession();
  if (!s || renameInput.disabled) return;
  const checked = checkName(renameInput.value);
  if (!checked.ok) {
    showError(`That name can't be used: ${nameRuleText(checked.rule)}.`);
    return;
  }
  clearError();
  if (checked.name === s.client.me?.name && s.state.state === "live") return;
  rename(s, checked.name);
  saved.set(NAME_KEY, checked.name);
  nameInput.value = checked.name;
  renameInput.value = checked.name;
});
