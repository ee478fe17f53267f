/**
 * The few DOM helpers the page needs. Data only ever reaches the page through textContent, text nodes
 * and properties, never through HTML.
 */

/** The element with this id; a missing one is a mismatch between the script and the HTML. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`#${id} is missing from the page`);
  return node as T;
}

/** A new element with an optional class and text (set as textContent). */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** What the page keeps in localStorage (name, recent rooms, tokens), tolerating none (private modes, blocked storage). */
export const saved = {
  get(key: string): string | undefined {
    try {
      return localStorage.getItem(key) ?? undefined;
    } catch {
      return undefined;
    }
  },
  set(key: string, value: string | undefined): void {
    try {
      if (value === undefined) localStorage.removeItem(key);
      else localStorage.setItem(key, value);
    } catch {
      // Not remembering is better than not chatting.
    }
  },
};
