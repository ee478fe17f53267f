/**
 * Joining and leaving a room: a client per room, its events wired to the page, and what the page says
 * of the connection meanwhile (the status line, the tab's title with the unread count). The messages are
 * drawn from the client's folded view after each `change` (timeline.ts), so edits, deletions and
 * reactions show live, after a resume and after a reload alike; a `moderated` entry adds its line.
 */
import { type ClientEvents, connect, type StateChange, type User, type ViewChange } from "../client/index.ts";
import { renderComposer, renderPending } from "./composer.ts";
import { byId, saved } from "./dom.ts";
import { stopEdit } from "./edit.ts";
import { errorText, isPrivateRoom, statusText, stoppedBy } from "./format.ts";
import { closeMenu } from "./menu.ts";
import { noteModeration } from "./moderation.ts";
import { clearError, showError } from "./notices.ts";
import { nameInput, roomUrl, setPanel, showOwnName, showRoom, showSignedIn } from "./panel.ts";
import { clearTyping, renameTyper, renderMembers, showPeople, startTyping, stopTyping } from "./people.ts";
import { cancelReply, renderReply } from "./reply.ts";
import { currentSession, type Session, setSession } from "./session.ts";
import { accessToken } from "./signin.ts";
import { hideIntro, namesChanged, refresh, setListBusy, showEmpty, view } from "./timeline.ts";

const tokenKey = (room: string) => `parley:token:${room}`;

const status = byId("status");
const rejoin = byId<HTMLButtonElement>("rejoin");
const roomTitle = byId("room-title");
const roomKind = byId("room-kind");

let unread = 0;
let statusTimer: ReturnType<typeof setInterval> | undefined;

/** Leave the room the page is in, if any, and join `room` as `name` (the server picks one if none). */
export function join(room: string, name: string | undefined): void {
  leave();
  const key = tokenKey(room);
  const access = accessToken();
  const signed = access !== undefined;
  const client = connect(location.origin, {
    room,
    // A signed user's name and identity are the token's. Their reconnect token is not kept: offered
    // by an anonymous join later, the server would refuse it.
    name: signed ? undefined : name,
    token: signed ? undefined : storedToken(key),
    onToken: (token) => {
      if (!signed) saved.set(key, token);
    },
    // Read again before every connect: an embedding app may have stored a fresher token meanwhile.
    accessToken: signed ? () => accessToken() ?? access : undefined,
  });
  const s: Session = {
    client,
    room,
    state: { state: "connecting" },
    queue: [],
    backlogSeq: -1,
    reconnectAt: 0,
    loadingOlder: false,
    signed,
    names: new Map(),
    banned: new Map(),
    muted: new Map(),
    unsubscribe: [],
  };
  setSession(s);
  const on = <K extends keyof ClientEvents>(event: K, fn: (payload: ClientEvents[K]) => void) =>
    s.unsubscribe.push(client.on(event, fn));

  on("state", (change) => onState(s, change));
  on("welcome", (w) => {
    if (s.backlogSeq < 0) s.backlogSeq = w.seq;
    learn(s, w.you, true);
    showOwnName(w.you.name);
    showSignedIn(w.you);
    // The role may have come with this welcome: the messages' controls depend on it.
    refresh();
  });
  on("reset", () => {
    // A new epoch renumbers the room: what is shown belongs to its previous life.
    view.clear();
    s.backlogSeq = -1;
    showEmpty();
  });
  on("change", (change) => onChange(s, change));
  on("members", (users) => {
    for (const u of users) learn(s, u, true);
    renderMembers(users);
    refresh();
  });
  on("renamed", ({ user }) => {
    renameTyper(user);
    learn(s, user, true);
    refresh();
    if (user.id === client.me?.id) {
      showOwnName(user.name);
      nameInput.value = user.name;
    }
  });
  on("typing", ({ user }) => {
    if (user.id === client.me?.id) return; // this user in another tab
    startTyping(user);
  });
  on("queue", (queue) => {
    s.queue = queue;
    renderPending(s);
  });
  on("error", (e) => {
    showError(errorText(e.code, e.message, e.retryAfterMs));
  });

  globalThis.history.replaceState(null, "", roomUrl(room));
  showRoom(room, signed ? undefined : name);
  showSignedIn(undefined, signed);
  showPeople();
  // The backlog is history, not news: a screen reader should not read 50 messages out on entry.
  setListBusy(true);
  roomTitle.textContent = room;
  roomKind.hidden = !isPrivateRoom(room);
  hideIntro();
  showEmpty();
  setPanel(false);
  clearError();
  unread = 0;
  renderTitle();
  onState(s, s.state);
}

/** One change of the client's view: draw it, and count what is news. */
function onChange(s: Session, change: ViewChange) {
  const e = change.entry;
  if (e?.type === "moderated") {
    noteModeration(s, e);
    learn(s, e.by);
    learn(s, e.user);
    view.addModeration(e);
  } else if (e) learn(s, e.type === "message" ? e.from : e.by);
  const me = s.client.me?.id;
  for (const m of refresh()) {
    if (m.seq <= s.backlogSeq) continue;
    stopTyping(m.from.id);
    if (document.hidden && m.from.id !== me) {
      unread++;
      renderTitle();
    }
  }
  // The message being replied to may just have changed, or gone.
  renderReply(s);
}

/** Remember a user's name for the reaction tooltips; `current` names (members, renames) replace older ones. */
function learn(s: Session, user: User, current = false) {
  const known = s.names.get(user.id);
  if (known === user.name || (known !== undefined && !current)) return;
  s.names.set(user.id, user.name);
  namesChanged();
}

/** The kept token, unless it is one the server would refuse (over 128 characters stops the client). */
function storedToken(key: string): string | undefined {
  const token = saved.get(key);
  return token && token.length <= 128 ? token : undefined;
}

function leave() {
  const s = currentSession();
  setSession(undefined);
  if (!s) return;
  // Unsubscribe first: the old client's last events (its stop, its rejected queue) are not this room's.
  for (const off of s.unsubscribe) off();
  s.client.close();
  stopEdit(false);
  closeMenu();
  cancelReply(s);
  clearTyping();
  view.clear();
  renderMembers([]);
}

function onState(s: Session, change: StateChange) {
  s.state = change;
  if (change.state !== "connecting" && change.state !== "reconnecting") setListBusy(false);
  if (change.state === "reconnecting") s.reconnectAt = Date.now() + (change.retryInMs ?? 0);
  clearInterval(statusTimer);
  statusTimer = undefined;
  // A countdown only while reconnecting; every other state is a fixed line.
  if (change.state === "reconnecting") statusTimer = setInterval(() => renderStatus(s), 250);
  renderStatus(s);
  // A ban refuses the next join too; every other stop may be worth another try.
  rejoin.hidden = change.state !== "stopped" || stoppedBy(change.code, change.reason) === "banned";
  renderComposer(s);
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
  const room = currentSession()?.room;
  const base = room ? `Parley — ${isPrivateRoom(room) ? "private room" : room}` : "Parley";
  document.title = unread > 0 ? `(${unread}) ${base}` : base;
}

rejoin.addEventListener("click", () => {
  const s = currentSession();
  if (s) join(s.room, s.client.name);
});

document.addEventListener("visibilitychange", () => {
  if (document.hidden) return;
  unread = 0;
  renderTitle();
});
