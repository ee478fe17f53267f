/**
 * The chat page's script (bundled by scripts/build-page.ts with the client it imports). It wires the
 * typed client to the DOM of index.ts; user text only ever reaches the page through textContent.
 */
import {
  type ClientEvents,
  connect,
  type ParleyClient,
  ParleyError,
  type QueuedMessage,
  type StateChange,
  type User,
} from "../client/index.ts";
import { checkName, ROOM_NAME } from "../protocol/constants.ts";
import { byId, saved } from "./dom.ts";
import {
  colorSlot,
  errorText,
  initial,
  isPrivateRoom,
  nameRuleText,
  ROOM_NAME_TEXT,
  statusText,
  TYPING_MS,
  typingText,
} from "./format.ts";
import { MessageView } from "./messages.ts";

const NAME_KEY = "parley:name";
const RECENT_KEY = "parley:recent";
const tokenKey = (room: string) => `parley:token:${room}`;

const side = byId("side");
const panelToggle = byId<HTMLButtonElement>("panel-toggle");
const status = byId("status");
const rejoin = byId<HTMLButtonElement>("rejoin");
const joinHeading = byId("join-heading");
const roomForm = byId<HTMLFormElement>("room-form");
const roomInput = byId<HTMLInputElement>("room-input");
const nameInput = byId<HTMLInputElement>("name-input");
const roomList = byId<HTMLDataListElement>("room-list");
const newRoom = byId<HTMLButtonElement>("new-room");
const shareCard = byId("share");
const shareLink = byId<HTMLAnchorElement>("share-link");
const copyLink = byId<HTMLButtonElement>("copy-link");
const youCard = byId("you");
const renameForm = byId<HTMLFormElement>("rename-form");
const renameInput = byId<HTMLInputElement>("rename-input");
const people = byId("people");
const members = byId<HTMLUListElement>("members");
const list = byId<HTMLOListElement>("messages");
const memberCount = byId("member-count");
const roomTitle = byId("room-title");
const roomKind = byId("room-kind");
const log = byId("log");
const intro = byId("intro");
const empty = byId("empty");
const older = byId<HTMLButtonElement>("older");
const typingLine = byId("typing");
const errorLine = byId("error");
const composer = byId<HTMLFormElement>("composer");
const textarea = byId<HTMLTextAreaElement>("text");
const send = byId<HTMLButtonElement>("send");

const view = new MessageView(list, log, older, byId<HTMLButtonElement>("jump"));

/** Everything that belongs to the room the page is in; replaced whole on a room change. */
interface Session {
  client: ParleyClient;
  room: string;
  state: StateChange;
  queue: QueuedMessage[];
  /** Messages up to this seq came with the first welcome: history, not news, for the unread count. */
  backlogSeq: number;
  reconnectAt: number;
  loadingOlder: boolean;
  unsubscribe: (() => unknown)[];
}

let session: Session | undefined;
let unread = 0;
let statusTimer: ReturnType<typeof setInterval> | undefined;
let errorTimer: ReturnType<typeof setTimeout> | undefined;
let userScrolledAt = 0;
const typers = new Map<string, { name: string; timer: ReturnType<typeof setTimeout> }>();

// ---- joining and leaving -----------------------------------------------------------------------

function join(room: string, name: string | undefined) {
  leave();
  const key = tokenKey(room);
  const client = connect(location.origin, {
    room,
    name,
    token: storedToken(key),
    onToken: (token) => saved.set(key, token),
  });
  const s: Session = {
    client,
    room,
    state: { state: "connecting" },
    queue: [],
    backlogSeq: -1,
    reconnectAt: 0,
    loadingOlder: false,
    unsubscribe: [],
  };
  session = s;
  const on = <K extends keyof ClientEvents>(event: K, fn: (payload: ClientEvents[K]) => void) =>
    s.unsubscribe.push(client.on(event, fn));

  on("state", (change) => onState(s, change));
  on("welcome", (w) => {
    if (s.backlogSeq < 0) s.backlogSeq = w.seq;
    if (document.activeElement !== renameInput) renameInput.value = w.you.name;
  });
  on("reset", () => {
    // A new epoch renumbers the room: what is shown belongs to its previous life.
    view.clear();
    s.backlogSeq = -1;
    showEmpty();
  });
  on("message", (m) => {
    stopTyping(m.from.id);
    const first = view.count() === 0;
    const mine = m.from.id === client.me?.id;
    view.append(m, mine);
    if (first) view.setMore(m.seq > 1);
    if (document.hidden && !mine && m.seq > s.backlogSeq) {
      unread++;
      renderTitle();
    }
    showEmpty();
  });
  on("members", renderMembers);
  on("renamed", ({ user }) => {
    const typer = typers.get(user.id);
    if (typer) typer.name = user.name;
    renderTyping();
    if (user.id === client.me?.id) {
      if (document.activeElement !== renameInput) renameInput.value = user.name;
      nameInput.value = user.name;
    }
  });
  on("typing", ({ user }) => {
    if (user.id === client.me?.id) return; // this user in another tab
    stopTyping(user.id, false);
    typers.set(user.id, { name: user.name, timer: setTimeout(() => stopTyping(user.id), TYPING_MS) });
    renderTyping();
  });
  on("queue", (queue) => {
    s.queue = queue;
    renderPending(s);
  });
  on("error", (e) => {
    showError(errorText(e.code, e.message));
  });

  globalThis.history.replaceState(null, "", roomUrl(room));
  remember(room);
  roomInput.value = room;
  shareLink.href = roomUrl(room);
  shareLink.textContent = roomUrl(room);
  shareCard.hidden = false;
  youCard.hidden = false;
  people.hidden = false;
  // The backlog is history, not news: a screen reader should not read 50 messages out on entry.
  list.setAttribute("aria-busy", "true");
  renameInput.value = name ?? "";
  roomTitle.textContent = room;
  roomKind.hidden = !isPrivateRoom(room);
  panelToggle.textContent = isPrivateRoom(room) ? "Private room" : room;
  panelToggle.setAttribute("aria-label", `${panelToggle.textContent}: room and name settings`);
  intro.hidden = true;
  joinHeading.textContent = "Switch room";
  showEmpty();
  setPanel(false);
  clearError();
  unread = 0;
  renderTitle();
  onState(s, s.state);
}

/** The kept token, unless it is one the server would refuse (over 128 characters stops the client). */
function storedToken(key: string): string | undefined {
  const token = saved.get(key);
  return token && token.length <= 128 ? token : undefined;
}

function leave() {
  const s = session;
  session = undefined;
  if (!s) return;
  // Unsubscribe first: the old client's last events (its stop, its rejected queue) are not this room's.
  for (const off of s.unsubscribe) off();
  s.client.close();
  for (const id of [...typers.keys()]) stopTyping(id, false);
  renderTyping();
  view.clear();
  renderMembers([]);
}

function roomUrl(room: string): string {
  const url = new URL(location.href);
  url.search = "";
  url.hash = "";
  url.searchParams.set("room", room);
  return url.href;
}

/** Recently joined rooms, newest first; whatever else is stored under the key is ignored. */
function recentRooms(): string[] {
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

function renderRecent(recent: string[]) {
  const names = recent.includes("lobby") ? recent : [...recent, "lobby"];
  roomList.replaceChildren(
    ...names.map((r) => {
      const option = document.createElement("option");
      option.value = r;
      return option;
    }),
  );
}

// ---- connection state --------------------------------------------------------------------------

function onState(s: Session, change: StateChange) {
  s.state = change;
  if (change.state !== "connecting" && change.state !== "reconnecting") list.removeAttribute("aria-busy");
  if (change.state === "reconnecting") s.reconnectAt = Date.now() + (change.retryInMs ?? 0);
  clearInterval(statusTimer);
  statusTimer = undefined;
  // A countdown only while reconnecting; every other state is a fixed line.
  if (change.state === "reconnecting") statusTimer = setInterval(() => renderStatus(s), 250);
  renderStatus(s);
  const stopped = change.state === "stopped";
  rejoin.hidden = !stopped;
  send.disabled = stopped;
  textarea.disabled = false;
  textarea.placeholder = stopped ? "Disconnected. Use Reconnect to rejoin." : messagePlaceholder(s.room);
  renderPending(s);
}

function messagePlaceholder(room: string): string {
  return `Message ${isPrivateRoom(room) ? "this private room" : room}`;
}

function renderStatus(s: Session) {
  const text = statusText(s.state, s.reconnectAt - Date.now());
  // Write only on a change: a screen reader announces every write to a role=status element.
  if (status.textContent !== text) status.textContent = text;
  status.dataset.state = s.state.state;
  status.title = s.state.reason ?? "";
  if (text === "Retrying…") {
    clearInterval(statusTimer);
    statusTimer = undefined;
  }
}

function renderTitle() {
  const room = session?.room;
  const base = room ? `Parley — ${isPrivateRoom(room) ? "private room" : room}` : "Parley";
  document.title = unread > 0 ? `(${unread}) ${base}` : base;
}

// ---- people and typing -------------------------------------------------------------------------

function renderMembers(users: User[]) {
  const me = session?.client.me?.id;
  members.replaceChildren(
    ...users.map((u) => {
      const li = document.createElement("li");
      li.textContent = u.name;
      li.className = `c${colorSlot(u.id)}${u.id === me ? " me" : ""}`;
      li.dataset.initial = initial(u.name);
      li.title = u.name;
      return li;
    }),
  );
  memberCount.textContent = users.length ? String(users.length) : "";
  // Someone who left is not typing any more.
  const here = new Set(users.map((u) => u.id));
  for (const id of [...typers.keys()]) if (!here.has(id)) stopTyping(id);
}

function stopTyping(id: string, render = true) {
  const typer = typers.get(id);
  if (!typer) return;
  clearTimeout(typer.timer);
  typers.delete(id);
  if (render) renderTyping();
}

function renderTyping() {
  typingLine.textContent = typingText([...typers.values()].map((t) => t.name));
}

function renderPending(s: Session) {
  const me = s.client.me?.name ?? s.client.name ?? "you";
  view.setPending(s.queue, me, s.state.state !== "live");
}

function showEmpty() {
  empty.hidden = !session || view.count() > 0;
}

// ---- errors ------------------------------------------------------------------------------------

function showError(text: string) {
  errorLine.textContent = text;
  clearTimeout(errorTimer);
  errorTimer = setTimeout(clearError, 12_000);
}

function clearError() {
  clearTimeout(errorTimer);
  errorLine.textContent = "";
}

function explain(err: unknown): string {
  if (err instanceof ParleyError) return errorText(err.code, err.message);
  return err instanceof Error ? err.message : String(err);
}

// ---- older messages ----------------------------------------------------------------------------

async function loadOlder() {
  const s = session;
  const before = view.oldestSeq();
  if (!s || s.loadingOlder || before === undefined || older.hidden) return;
  s.loadingOlder = true;
  older.setAttribute("aria-busy", "true");
  try {
    const page = await s.client.history(before);
    if (session !== s) return;
    const fresh = page.messages.filter((m) => m.seq < before);
    const me = s.client.me?.id;
    view.prepend(fresh, page.more && fresh.length > 0, (m) => m.from.id === me);
  } catch (err) {
    if (session === s) showError(explain(err));
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

// ---- forms -------------------------------------------------------------------------------------

function chosenName(): string | undefined | false {
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
  saved.set(NAME_KEY, name);
  const s = session;
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
    saved.set(NAME_KEY, name);
    join(body.room, name);
    focusComposer();
  } catch (err) {
    showError(`Couldn't create a private room: ${explain(err)}.`);
  } finally {
    newRoom.disabled = false;
  }
});

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

renameForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const s = session;
  if (!s) return;
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

function rename(s: Session, name: string) {
  // The client retries a rate-limited rename and asks again after a reconnect; only a refusal lands here.
  s.client.rename(name).catch((err: ParleyError) => {
    if (session === s && err.code !== "superseded" && err.code !== "stopped")
      showError(errorText(err.code, err.message));
  });
}

rejoin.addEventListener("click", () => {
  const s = session;
  if (s) join(s.room, s.client.name);
});

// ---- composer ----------------------------------------------------------------------------------

composer.addEventListener("submit", (e) => {
  e.preventDefault();
  const s = session;
  const text = textarea.value;
  if (!s || s.state.state === "stopped" || !text.trim()) return;
  textarea.value = "";
  autosize();
  clearError();
  s.client.say(text).catch((err: unknown) => {
    if (session !== s) return;
    showError(explain(err));
    // Hand a refused text back for editing, unless something new is being written already.
    if (err instanceof ParleyError && err.code !== "stopped" && !textarea.value) {
      textarea.value = text;
      autosize();
    }
  });
  view.toBottom();
  textarea.focus();
});

textarea.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    composer.requestSubmit();
  } else if (e.key === "Escape" && textarea.value) {
    e.preventDefault();
    textarea.value = "";
    autosize();
  }
});

textarea.addEventListener("input", () => {
  autosize();
  if (textarea.value.trim()) session?.client.typing();
});

/** Grow the textarea with its text, up to the CSS max-height. */
function autosize() {
  textarea.style.height = "auto";
  textarea.style.height = `${textarea.scrollHeight + 2}px`;
}

function focusComposer() {
  // On touch screens focusing would pop up the keyboard over the messages just loaded.
  if (matchMedia("(pointer: fine)").matches) textarea.focus();
}

// ---- layout and page life ----------------------------------------------------------------------

function setPanel(open: boolean) {
  side.classList.toggle("open", open);
  panelToggle.setAttribute("aria-expanded", String(open));
}

panelToggle.addEventListener("click", () => setPanel(!side.classList.contains("open")));

document.addEventListener("visibilitychange", () => {
  if (document.hidden) return;
  unread = 0;
  renderTitle();
});

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
