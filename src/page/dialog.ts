/**
 * The one modal dialog (#dialog): a confirmation before something that cannot be undone (deleting a
 * message) and the moderator's questions (how long a mute or ban lasts, and why). A native <dialog>
 * opened with showModal(): focus stays inside it, Escape cancels, and focus goes back where it was.
 */
import { byId, h } from "./dom.ts";

const dialog = byId<HTMLDialogElement>("dialog");
const form = byId<HTMLFormElement>("dialog-form");
const title = byId("dialog-title");
const text = byId("dialog-text");
const durationField = byId("dialog-duration-field");
const duration = byId<HTMLSelectElement>("dialog-duration");
const reasonField = byId("dialog-reason-field");
const reason = byId<HTMLInputElement>("dialog-reason");
const ok = byId<HTMLButtonElement>("dialog-ok");
const cancel = byId<HTMLButtonElement>("dialog-cancel");

/** A choice of how long: its words and its minutes (undefined: until lifted). */
export interface Duration {
  text: string;
  minutes?: number;
}

/** What to ask. */
export interface Question {
  title: string;
  text: string;
  /** The confirming button's words ("Delete", "Ban"). */
  confirm: string;
  /** Offer these spans, the first chosen. */
  durations?: Duration[];
  /** Ask for an optional reason. */
  reason?: boolean;
}

/** What was answered: the span chosen and the reason given (undefined when blank). */
export interface Answer {
  minutes?: number;
  reason?: string;
}

let settle: ((answer: Answer | undefined) => void) | undefined;
let asked: Question | undefined;
let returnTo: HTMLElement | null = null;

/** Ask `q` in the modal dialog; resolves with the answer, or undefined when cancelled. */
export function ask(q: Question): Promise<Answer | undefined> {
  settle?.(undefined);
  title.textContent = q.title;
  text.textContent = q.text;
  ok.textContent = q.confirm;
  durationField.hidden = !q.durations;
  duration.replaceChildren(
    ...(q.durations ?? []).map((d, i) => {
      const option = h("option", undefined, d.text);
      option.value = String(i);
      return option;
    }),
  );
  reasonField.hidden = !q.reason;
  reason.value = "";
  returnTo = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  dialog.showModal();
  (q.durations ? duration : q.reason ? reason : cancel).focus();
  asked = q;
  return new Promise((resolve) => {
    settle = (answer) => {
      settle = undefined;
      asked = undefined;
      resolve(answer);
    };
  });
}

// The form's method is "dialog": submitting it answers, then closes the dialog.
form.addEventListener("submit", () => {
  if (!asked) return;
  const why = reason.value.trim();
  settle?.({
    minutes: asked.durations?.[Number(duration.value)]?.minutes,
    reason: asked.reason && why ? why : undefined,
  });
});

cancel.addEventListener("click", () => dialog.close());
// Closed by Escape, by Cancel or by the form (method=dialog): whatever did not answer cancelled.
dialog.addEventListener("close", () => {
  settle?.(undefined);
  if (returnTo?.isConnected) returnTo.focus({ preventScroll: true });
  returnTo = null;
});
