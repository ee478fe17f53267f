/**
 * The composer (#composer): writing and sending (as a reply when the quote bar is up: reply.ts), ↑ to
 * edit one's last message, and the messages said but not yet acknowledged.
 */
import { ParleyError } from "../client/index.ts";
import { byId } from "./dom.ts";
import { editLast } from "./edit.ts";
import { isPrivateRoom, stoppedPlaceholder } from "./format.ts";
import { clearError, explain, showError } from "./notices.ts";
import { cancelReply, renderReply } from "./reply.ts";
import { currentSession, type Session } from "./session.ts";
import { view } from "./timeline.ts";

const composer = byId<HTMLFormElement>("composer");
const textarea = byId<HTMLTextAreaElement>("text");
const send = byId<HTMLButtonElement>("send");

/** Fit the composer to the connection's state: a stopped one sends nothing. */
export function renderComposer(s: Session): void {
  const stopped = s.state.state === "stopped";
  send.disabled = stopped;
  textarea.disabled = false;
  textarea.placeholder = stopped ? stoppedPlaceholder(s.state) : messagePlaceholder(s.room);
  renderPending(s);
}

/** Show the client's queue below the messages, as waiting or sending. */
export function renderPending(s: Session): void {
  const me = s.client.me?.name ?? s.client.name ?? "you";
  view.setPending(s.queue, me, s.state.state !== "live");
}

/** Focus the message field, on screens with a fine pointer only. */
export function focusComposer(): void {
  // On touch screens focusing would pop up the keyboard over the messages just loaded.
  if (matchMedia("(pointer: fine)").matches) textarea.focus();
}

function messagePlaceholder(room: string): string {
  return `Message ${isPrivateRoom(room) ? "this private room" : room}`;
}

/** Grow the textarea with its text, up to the CSS max-height. */
function autosize() {
  textarea.style.height = "auto";
  textarea.style.height = `${textarea.scrollHeight + 2}px`;
}

composer.addEventListener("submit", (e) => {
  e.preventDefault();
  const s = currentSession();
  const text = textarea.value;
  if (!s || s.state.state === "stopped" || !text.trim()) return;
  const replyTo = s.replyTo;
  textarea.value = "";
  autosize();
  clearError();
  cancelReply(s);
  s.client.say(text, replyTo === undefined ? {} : { replyTo }).catch((err: unknown) => {
    if (currentSession() !== s) return;
    showError(explain(err));
    // Hand a refused text back for editing, unless something new is being written already.
    if (err instanceof ParleyError && err.code !== "stopped" && !textarea.value) {
      textarea.value = text;
      autosize();
      if (replyTo !== undefined && s.replyTo === undefined) {
        s.replyTo = replyTo;
        renderReply(s);
      }
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
  } else if (e.key === "Escape" && currentSession()?.replyTo !== undefined) {
    e.preventDefault();
    cancelReply(currentSession());
  } else if (e.key === "ArrowUp" && !textarea.value && !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey) {
    const s = currentSession();
    if (s && s.state.state !== "stopped" && editLast(s)) e.preventDefault();
  }
});

textarea.addEventListener("input", () => {
  autosize();
  if (textarea.value.trim()) currentSession()?.client.typing();
});
