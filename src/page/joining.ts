/**
 * Joining and leaving a room: a client per room, its events wired to the page, and what the page says
 * of the connection meanwhile (the status line, the tab's title with the unread count).
 */
import { type ClientEvents, connect, type StateChange } from "../client/index.ts";
import { renderComposer, renderPending } from "./composer.ts";
import { byId, saved } from "./dom.ts";
import { errorText, isPrivateRoom, statusText } from "./format.ts";
import { clearError, showError } from "./notices.ts";
import { nameInput, roomUrl, setPanel, showOwnName, showRoom } from "./panel.ts";
import { clearTyping, renameTyper, renderMembers, showPeople, startTyping, stopTyping } from "./people.ts";
import { currentSession, type Session, setSession } from "./session.ts";
import { hideIntro, setListBusy, showEmpty, view } from "./timeline.ts";

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
  setSession(s);
  const on = <K extends keyof ClientEvents>(event: K, fn: (payload: ClientEvents[K]) => void) =>
    s.unsubscribe.push(client.on(event, fn));

  on("state", (change) => onState(s, change));
  on("welcome", (w) => {
    if (s.backlogSeq < 0) s.backlogSeq = w.seq;
    showOwnName(w.you.name);
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
    renameTyper(user);
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
    showError(errorText(e.code, e.message));
  });

  globalThis.history.replaceState(null, "", roomUrl(room));
  showRoom(room, name);
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
  rejoin.hidden = change.state !== "stopped";
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
