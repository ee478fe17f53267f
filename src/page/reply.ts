/**
 * Replying: "Reply" on a message puts a quote of it above the composer (#reply-bar) with a button that
 * cancels; the next message sent replies to it. The quote follows the message (an edit, a deletion: a
 * deleted message can't be replied to, so the reply is called off).
 */
import { byId } from "./dom.ts";
import { snippet } from "./format.ts";
import { icon } from "./icons.ts";
import { currentSession, type Session } from "./session.ts";

const bar = byId("reply-bar");
const quote = byId("reply-quote");
const cancel = byId<HTMLButtonElement>("reply-cancel");
const textarea = byId<HTMLTextAreaElement>("text");

cancel.append(icon("close"));
cancel.title = "Cancel the reply";

/** Reply to message `seq` with the next message. */
export function startReply(s: Session, seq: number): void {
  s.replyTo = seq;
  renderReply(s);
  textarea.focus();
}

/** Call the reply off: the next message replies to nothing. */
export function cancelReply(s: Session | undefined): void {
  if (s) s.replyTo = undefined;
  bar.hidden = true;
  quote.replaceChildren();
}

/** Show the quote bar for the session's reply, as the message now stands; a deleted one calls it off. */
export function renderReply(s: Session | undefined): void {
  const m = s?.replyTo === undefined ? undefined : s.client.messages.get(s.replyTo);
  if (!s || !m || m.deleted) return cancelReply(s);
  const who = document.createElement("strong");
  who.textContent = m.from.name;
  const what = document.createElement("span");
  what.className = "reply-text";
  what.textContent = snippet(m.text, 140);
  quote.replaceChildren("Replying to ", who, ": ", what);
  bar.hidden = false;
}

cancel.addEventListener("click", () => {
  cancelReply(currentSession());
  textarea.focus();
});
