/**
 * Popup menus: the reaction picker, a message's "More" menu, a person's moderation menu. One is open at a
 * time. Each item is a real button (role=menuitem, or menuitemcheckbox with aria-checked); the arrow keys,
 * Home and End move between them, Escape closes the menu and gives focus back to its trigger, Tab closes
 * it and moves on from the trigger, and a click elsewhere closes it.
 */
import { h } from "./dom.ts";

/** One entry of a menu. */
export interface MenuItem {
  /** What the item shows. */
  text: string;
  /** What a screen reader says, when the text alone is not enough (an emoji). */
  label?: string;
  /** For a checkable item (a reaction already given): whether it is on. */
  checked?: boolean;
  /** A destructive action, shown in red. */
  danger?: boolean;
  /** Begin a new group after a divider. */
  divided?: boolean;
  run: () => void;
}

/** How a menu opens. */
export interface MenuOptions {
  /** The menu's accessible name. */
  label: string;
  /** An extra class: `picker` lays the items out in a row. */
  className?: string;
  /**
   * Where focus goes when the menu closes, if the trigger is gone (the message it belonged to was drawn
   * again meanwhile): a way to find its replacement.
   */
  findTrigger?: () => HTMLElement | null | undefined;
}

interface OpenMenu {
  menu: HTMLElement;
  trigger: HTMLElement;
  options: MenuOptions;
}

let current: OpenMenu | undefined;

/** Open `items` as a menu under (or above) `trigger`; the same trigger again closes it. */
export function openMenu(trigger: HTMLElement, items: MenuItem[], options: MenuOptions): void {
  const again = current?.trigger === trigger;
  closeMenu(again);
  if (again || items.length === 0) return;
  const menu = h("div", `menu ${options.className ?? ""}`.trim());
  menu.setAttribute("role", "menu");
  menu.setAttribute("aria-label", options.label);
  for (const item of items) {
    if (item.divided) menu.append(divider());
    const button = h("button", item.danger ? "menu-item danger" : "menu-item", item.text);
    button.type = "button";
    button.tabIndex = -1;
    if (item.checked === undefined) button.setAttribute("role", "menuitem");
    else {
      button.setAttribute("role", "menuitemcheckbox");
      button.setAttribute("aria-checked", String(item.checked));
    }
    if (item.label) {
      button.setAttribute("aria-label", item.label);
      button.title = item.label;
    }
    button.addEventListener("click", () => {
      closeMenu(true);
      item.run();
    });
    menu.append(button);
  }
  menu.addEventListener("keydown", (e) => onKey(e, menu));
  document.body.append(menu);
  current = { menu, trigger, options };
  trigger.setAttribute("aria-expanded", "true");
  trigger.closest("li")?.classList.add("menu-open");
  place(menu, trigger);
  buttons(menu)[0]?.focus();
}

/** Close the open menu, if any; `refocus` gives focus back to its trigger. */
export function closeMenu(refocus = false): void {
  const open = current;
  if (!open) return;
  current = undefined;
  open.menu.remove();
  open.trigger.setAttribute("aria-expanded", "false");
  open.trigger.closest("li")?.classList.remove("menu-open");
  if (!refocus) return;
  const target = open.trigger.isConnected ? open.trigger : open.options.findTrigger?.();
  target?.focus({ preventScroll: true });
}

/**
 * Keep the open menu beside its trigger: after a scroll, or after the message it belongs to was drawn
 * again (the trigger is then a new button, found through `findTrigger`).
 */
export function followTrigger(): void {
  const open = current;
  if (!open) return;
  if (!open.trigger.isConnected) {
    const again = open.options.findTrigger?.();
    if (!again) return closeMenu(false);
    open.trigger = again;
    again.setAttribute("aria-expanded", "true");
    again.closest("li")?.classList.add("menu-open");
  }
  place(open.menu, open.trigger);
}

/** Mark `button` as one that opens a menu. */
export function menuTrigger(button: HTMLButtonElement): HTMLButtonElement {
  button.setAttribute("aria-haspopup", "menu");
  button.setAttribute("aria-expanded", "false");
  return button;
}

function divider() {
  const line = h("div", "menu-divider");
  line.setAttribute("role", "separator");
  return line;
}

function buttons(menu: HTMLElement): HTMLButtonElement[] {
  return [...menu.querySelectorAll<HTMLButtonElement>("button")];
}

function onKey(e: KeyboardEvent, menu: HTMLElement) {
  const all = buttons(menu);
  const at = all.indexOf(document.activeElement as HTMLButtonElement);
  const go = (i: number) => all[(i + all.length) % all.length]?.focus();
  switch (e.key) {
    case "ArrowDown":
    case "ArrowRight":
      go(at + 1);
      break;
    case "ArrowUp":
    case "ArrowLeft":
      go(at - 1);
      break;
    case "Home":
      go(0);
      break;
    case "End":
      go(all.length - 1);
      break;
    case "Escape":
      closeMenu(true);
      break;
    case "Tab":
      // Focus goes back to the trigger first, so that Tab moves on from there, not from the page's end.
      closeMenu(true);
      return;
    default:
      return;
  }
  e.preventDefault();
  e.stopPropagation();
}

/** Put the menu below its trigger, or above when there is no room below, inside the window. */
function place(menu: HTMLElement, trigger: HTMLElement) {
  const at = trigger.getBoundingClientRect();
  const size = menu.getBoundingClientRect();
  const margin = 8;
  const below = at.bottom + 4 + size.height <= innerHeight - margin;
  const top = below ? at.bottom + 4 : Math.max(margin, at.top - 4 - size.height);
  const left = Math.min(at.left, innerWidth - size.width - margin);
  // CSSOM, not a style attribute: the CSP (style-src 'self') allows the one and not the other.
  menu.style.top = `${Math.round(top)}px`;
  menu.style.left = `${Math.round(Math.max(margin, left))}px`;
}

document.addEventListener("pointerdown", (e) => {
  if (!current) return;
  const target = e.target as Node;
  if (current.menu.contains(target) || current.trigger.contains(target)) return;
  closeMenu(false);
});
window.addEventListener("resize", () => closeMenu(false));
// The list scrolling (a new message, the reader) moves the trigger: the menu follows it.
document.addEventListener("scroll", () => followTrigger(), true);
