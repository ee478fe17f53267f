/**
 * Editing one's own message in place: "Edit" (or ↑ in an empty composer, for the last one) swaps the
 * message's text for a small form. Enter saves, Shift+Enter starts a new line, Escape (or Cancel) leaves
 * the text as it was. The message shows "edited" once the room has the change.
 */
import { h } from "./dom.ts";
import { explain, showError } from "./notices.ts";
import { currentSession, type Session } from "./session.ts";
import { refresh, view } from "./timeline.ts";

interface Editing {
  s: Session;
  seq: number;
  form: HTMLFormElement;
  field: HTMLTextAreaElement;
}

let editing: Editing | undefined;

/** The open editor of message `seq`, if that is the one being edited. */
export function editorFor(seq: number): HTMLElement | undefined {
  return editing && editing.seq === seq && editing.s === currentSession() ? editing.form : undefined;
}

/** Open the editor on message `seq` (this user's own). */
export function startEdit(s: Session, seq: number): void {
  const m = s.client.messages.get(seq);
  if (!m || m.deleted || m.from.id !== s.client.me?.id) return;
  stopEdit(false);
  const form = h("form", "editor");
  const field = h("textarea", "edit-field");
  field.value = m.text;
  field.rows = Math.min(8, m.text.split("\n").length);
  field.dataset.key = "editor";
  field.setAttribute("aria-label", "Edit your message");
  field.setAttribute("aria-describedby", "edit-help");
  const help = h("p", "help", "Enter to save · Esc to cancel");
  help.id = "edit-help";
  const save = h("button", "small primary", "Save");
  save.type = "submit";
  save.dataset.key = "save";
  const cancel = h("button", "small", "Cancel");
  cancel.type = "button";
  cancel.dataset.key = "cancel";
  const row = h("div", "editor-row");
  row.append(help, cancel, save);
  form.append(field, row);
  editing = { s, seq, form, field };

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void submitEdit(s, seq, field.value, save);
  });
  cancel.addEventListener("click", () => stopEdit(true));
  field.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit();
    } else if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      stopEdit(true);
    }
  });
  refresh();
  field.focus();
  field.setSelectionRange(field.value.length, field.value.length);
}

/** Close the editor, if open; `refocus` puts focus back on the message's "more" button. */
export function stopEdit(refocus: boolean): void {
  const was = editing;
  if (!was) return;
  editing = undefined;
  if (was.s !== currentSession()) return;
  refresh();
  if (!refocus) return;
  const li = view.item(was.seq);
  (li?.querySelector<HTMLElement>('[data-key="more"]') ?? li)?.focus({ preventScroll: true });
}

/** Edit the newest message of this user's still shown (↑ in an empty composer); returns whether there was one. */
export function editLast(s: Session): boolean {
  const me = s.client.me?.id;
  const mine = [...s.client.messages.values()].filter((m) => m.from.id === me && !m.deleted);
  const last = mine[mine.length - 1];
  if (!last) return false;
  startEdit(s, last.seq);
  view.item(last.seq)?.scrollIntoView({ block: "nearest" });
  return true;
}

async function submitEdit(s: Session, seq: number, text: string, button: HTMLButtonElement) {
  const m = s.client.messages.get(seq);
  if (!m) return stopEdit(false);
  if (text === m.text || !text.trim()) {
    // Nothing changed; a blank text would be refused (deleting is its own action).
    if (!text.trim()) showError("A message can't be blank: use Delete to remove it.");
    else stopEdit(true);
    return;
  }
  button.disabled = true;
  try {
    await s.client.edit(seq, text);
    if (editing?.seq === seq) stopEdit(true);
  } catch (err) {
    if (currentSession() === s) showError(explain(err));
  } finally {
    button.disabled = false;
  }
}
