/**
 * The side panel: open or closed, the fields that joining and the forms (forms.ts) both fill in, the
 * room field's suggestions (the rooms joined lately) and the invite card.
 */
import type { User } from "../client/index.ts";
import { ROOM_NAME } from "../protocol/constants.ts";
import { byId, saved } from "./dom.ts";
import { isPrivateRoom } from "./format.ts";

/** Where the name the person chose is kept. */
export const NAME_KEY = "parley:name";
const RECENT_KEY = "parley:recent";

const side = byId("side");
const panelToggle = byId<HTMLButtonElement>("panel-toggle");
const joinHeading = byId("join-heading");
const roomList = byId<HTMLDataListElement>("room-list");
const shareCard = byId("share");
const shareLink = byId<HTMLAnchorElement>("share-link");
const copyLink = byId<HTMLButtonElement>("copy-link");
const youCard = byId("you");
const youHeading = byId("you-heading");
const nameField = byId("name-field");
const renameNote = byId("rename-note");
const renameButton = byId<HTMLButtonElement>("rename-button");

/** The room form's room field. */
export const roomInput = byId<HTMLInputElement>("room-input");
/** The room form's name field, the name a join asks for. */
export const nameInput = byId<HTMLInputElement>("name-input");
/** The rename card's field. */
export const renameInput = byId<HTMLInputElement>("rename-input");

/** Open or close the panel (only narrow screens ever hide it). */
export function setPanel(open: boolean): void {
  side.classList.toggle("open", open);
  panelToggle.setAttribute("aria-expanded", String(open));
}

/** The page's address for a room, as the address bar shows it and the invite card shares it. */
export function roomUrl(room: string): string {
  const url = new URL(location.href);
  url.search = "";
  url.hash = "";
  url.searchParams.set("room", room);
  return url.href;
}

/** Turn the panel to a room just joined: its name, its invite link, the rename card. */
export function showRoom(room: string, name: string | undefined): void {
  remember(room);
  roomInput.value = room;
  shareLink.href = roomUrl(room);
  shareLink.textContent = roomUrl(room);
  shareCard.hidden = false;
  youCard.hidden = false;
  renameInput.value = name ?? "";
  panelToggle.textContent = isPrivateRoom(room) ? "Private room" : room;
  panelToggle.setAttribute("aria-label", `${panelToggle.textContent}: room and name settings`);
  joinHeading.textContent = "Switch room";
}

/** Show this user's name in the rename field, unless the person is editing it. */
export function showOwnName(name: string): void {
  if (document.activeElement !== renameInput) renameInput.value = name;
}

/**
 * A signed user's name is the sign-in's (the server refuses their rename): the join form asks for no
 * name, and the name card shows it locked, with a note that says so. From the welcome's `you` once
 * there is one, else as `presumed` (whether the page has an access token).
 */
export function showSignedIn(you: User | undefined, presumed = false): void {
  const signed = you ? you.sub !== undefined : presumed;
  nameField.hidden = signed;
  nameInput.disabled = signed;
  renameInput.disabled = signed;
  renameButton.disabled = signed;
  const role = you?.role === "moderator" ? ", a moderator here" : "";
  const signedIn = you ? `Signed in as ${you.name}${role}. ` : "";
  renameNote.textContent = signed ? `${signedIn}Your name comes from your sign-in.` : "";
  renameNote.hidden = !signed;
  if (signed) renameInput.setAttribute("aria-describedby", "rename-note");
  else renameInput.removeAttribute("aria-describedby");
  youHeading.textContent = signed ? "Your name" : "Change your name";
  // Before any room, the card is the one place that says whose name this is.
  if (signed) youCard.hidden = false;
  if (you && signed) {
    nameInput.value = you.name;
    renameInput.value = you.name;
  }
}

/** Recently joined rooms, newest first; whatever else is stored under the key is ignored. */
export function recentRooms(): string[] {
  try {
    const parsed: unknown = JSON.parse(saved.get(RECENT_KEY) ?? "[]");
    if (Array.isArray(parsed)) return parsed.filter((r): r is string => typeof r === "string" && ROOM_NAME.test(r));
  } catch {}
  return [];
}

/** Put a room first in the room field's suggestions. */
function remember(room: string) {
  const recent = [room, ...recentRooms().filter((r) => r !== room)].slice(0, 8);
  saved.set(RECENT_KEY, JSON.stringify(recent));
  renderRecent(recent);
}

/** Offer these rooms, and the lobby, as the room field's suggestions. */
export function renderRecent(recent: string[]): void {
  const names = recent.includes("lobby") ? recent : [...recent, "lobby"];
  roomList.replaceChildren(
    ...names.map((r) => {
      const option = document.createElement("option");
      option.value = r;
      return option;
    }),
  );
}

panelToggle.addEventListener("click", () => setPanel(!side.classList.contains("open")));

copyLink.addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText(shareLink.href);
    copyLink.textContent = "Copied!";
  } catch {
    // No clipboard (a plain-http page, a denied permission): select the link for a manual copy.
    getSelection()?.selectAllChildren(shareLink);
    copyLink.textContent = "Press Ctrl+C";
  }
  setTimeout(() => {
    copyLink.textContent = "Copy link";
  }, 2000);
});
