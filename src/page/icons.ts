/**
 * The few line icons the page's buttons show, as SVG built in code (no markup, no inline style: the
 * CSP allows neither). Each is decoration: its button carries the words (aria-label).
 */
const SVG = "http://www.w3.org/2000/svg";

const PATHS = {
  // A smiling face with a plus: add a reaction.
  react: [
    "M20.5 11.5a8.5 8.5 0 1 1-7-8.4",
    "M8.5 14.5s1.3 2 3.5 2 3.5-2 3.5-2",
    "M9 9.5h.01M15 9.5h.01",
    "M19 2v6M16 5h6",
  ],
  // An arrow curving back: reply.
  reply: ["M9 17 4 12l5-5", "M4 12h11a5 5 0 0 1 5 5v2"],
  // Three dots: more actions.
  more: ["M5 12h.01M12 12h.01M19 12h.01"],
  // A cross: cancel, close.
  close: ["M18 6 6 18", "M6 6l12 12"],
  // A shield: moderation.
  shield: ["M12 22s8-4 8-10V5l-8-3-8 3v7c0 6 8 10 8 10z"],
} as const;

export type IconName = keyof typeof PATHS;

/** A 24×24 line icon, hidden from assistive technology. */
export function icon(name: IconName): SVGSVGElement {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", "icon");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  for (const d of PATHS[name]) {
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}

/** A real button with an icon and a label that says what it does (the label is also its tooltip). */
export function iconButton(name: IconName, label: string, className = "icon-button"): HTMLButtonElement {
  const button = document.createElement("button");
  button.type = "button";
  button.className = className;
  button.setAttribute("aria-label", label);
  button.title = label;
  button.append(icon(name));
  return button;
}
