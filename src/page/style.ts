/**
 * The chat page's stylesheet, served at /app.css (the CSP allows no inline style). Light by default,
 * dark under prefers-color-scheme; a sidebar on wide screens, one column under 720px.
 */
export const style = `:root {
  color-scheme: light dark;
  --bg: #f4f5f7;
  --surface: #ffffff;
  --surface-2: #eceef2;
  --text: #15181d;
  --muted: #59616c;
  --border: #d8dce2;
  --accent: #2f55d4;
  --accent-text: #ffffff;
  --mine: #e3e9ff;
  --mine-border: #c5d1fa;
  --ok: #16824a;
  --warn: #a45f00;
  --bad: #b42318;
  --bad-bg: #fdecea;
  --focus: #2f55d4;
  --c0: #b42318; --c1: #a04a00; --c2: #067647; --c3: #0b6b8a;
  --c4: #175cd3; --c5: #6941c6; --c6: #b0166a; --c7: #4e5ba6;
  --avatar-text: #ffffff;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0f1115;
    --surface: #171a20;
    --surface-2: #222630;
    --text: #e8eaef;
    --muted: #a2aab6;
    --border: #2d323c;
    --accent: #8aa4ff;
    --accent-text: #0b1020;
    --mine: #1c2747;
    --mine-border: #2d3d6e;
    --ok: #4cc38a;
    --warn: #e5a84a;
    --bad: #ff8a80;
    --bad-bg: #3a1d1d;
    --focus: #9fb5ff;
    --c0: #ff8a80; --c1: #ffb870; --c2: #6fdc9c; --c3: #6fd3ee;
    --c4: #8ab4ff; --c5: #c4a8ff; --c6: #ff8fd1; --c7: #aab6ff;
    --avatar-text: #0f1115;
  }
}
*, *::before, *::after { box-sizing: border-box; }
[hidden] { display: none !important; }
html, body { height: 100%; }
body {
  margin: 0;
  background: var(--bg);
  color: var(--text);
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  -webkit-text-size-adjust: 100%;
}
h1, h2, p { margin: 0; }
a { color: var(--accent); }
.vh {
  position: absolute !important; width: 1px; height: 1px; margin: -1px; padding: 0;
  overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0;
}
:focus-visible { outline: 2px solid var(--focus); outline-offset: 2px; }

button, input, textarea { font: inherit; color: inherit; }
input, textarea {
  width: 100%; min-width: 0;
  background: var(--surface);
  border: 1px solid var(--border);
  border-radius: 8px;
  padding: .5rem .65rem;
}
input::placeholder, textarea::placeholder { color: var(--muted); opacity: 1; }
input:focus-visible, textarea:focus-visible { outline: 2px solid var(--focus); outline-offset: 0; border-color: var(--focus); }
input:user-invalid { border-color: var(--bad); }
textarea:disabled { background: var(--surface-2); cursor: not-allowed; }
button {
  cursor: pointer;
  padding: .5rem .9rem;
  border: 1px solid var(--border);
  border-radius: 8px;
  background: var(--surface);
  font-weight: 600;
  white-space: nowrap;
}
button:hover { background: var(--surface-2); }
button.primary { background: var(--accent); border-color: var(--accent); color: var(--accent-text); }
button.primary:hover { filter: brightness(1.1); }
button:disabled { opacity: .55; cursor: not-allowed; }
button.small { padding: .25rem .6rem; font-size: .85rem; }
button.pill { border-radius: 999px; font-size: .85rem; padding: .35rem .9rem; }

/* ---- layout ---- */
.app { display: grid; grid-template-columns: 300px minmax(0, 1fr); height: 100vh; height: 100dvh; }
.side {
  display: flex; flex-direction: column; gap: 1.25rem;
  min-height: 0; overflow-y: auto;
  padding: 1rem;
  background: var(--surface);
  border-right: 1px solid var(--border);
}
.chat { position: relative; display: flex; flex-direction: column; min-width: 0; min-height: 0; }

/* ---- sidebar ---- */
.brand { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem .75rem; }
.logo { display: flex; align-items: center; gap: .5rem; font-size: 1.25rem; font-weight: 750; letter-spacing: -.01em; }
.logo::before {
  content: ""; width: 1.5rem; height: 1.5rem; border-radius: .45rem;
  background: linear-gradient(135deg, var(--accent), #8b5cf6);
}
.conn { display: flex; align-items: center; gap: .5rem; min-width: 0; }
#status { display: inline-flex; align-items: center; gap: .4rem; font-size: .85rem; color: var(--muted); }
#status::before { content: ""; flex: none; width: .55rem; height: .55rem; border-radius: 50%; background: var(--muted); }
#status[data-state="live"] { color: var(--ok); }
#status[data-state="live"]::before { background: var(--ok); }
#status[data-state="connecting"]::before, #status[data-state="reconnecting"]::before {
  background: var(--warn); animation: pulse 1.2s ease-in-out infinite;
}
#status[data-state="reconnecting"] { color: var(--warn); }
#status[data-state="stopped"] { color: var(--bad); }
#status[data-state="stopped"]::before { background: var(--bad); }
@keyframes pulse { 50% { opacity: .3; } }
#panel-toggle { display: none; }

.panel { display: flex; flex-direction: column; gap: 1.25rem; }
.card { display: flex; flex-direction: column; gap: .5rem; }
.card h2, .people h2 {
  font-size: .75rem; font-weight: 700; letter-spacing: .06em; text-transform: uppercase; color: var(--muted);
}
.stack { display: flex; flex-direction: column; gap: .35rem; }
.stack label { margin-top: .25rem; }
label { font-size: .85rem; font-weight: 600; }
.row { display: flex; gap: .5rem; align-items: center; }
.help { font-size: .78rem; color: var(--muted); }
.or { display: flex; align-items: center; gap: .6rem; font-size: .78rem; color: var(--muted); }
.or::before, .or::after { content: ""; flex: 1; border-top: 1px solid var(--border); }
#new-room { width: 100%; }
.share-link {
  display: block; padding: .45rem .6rem; border: 1px dashed var(--border); border-radius: 8px;
  font-size: .8rem; font-family: ui-monospace, "SF Mono", Menlo, Consolas, monospace; overflow-wrap: anywhere;
}
#copy-link { align-self: flex-start; }

.people { display: flex; flex-direction: column; gap: .5rem; }
.count {
  display: inline-block; min-width: 1.4em; margin-left: .25rem; padding: 0 .35rem; border-radius: 999px;
  background: var(--surface-2); color: var(--text); text-align: center; letter-spacing: 0;
}
.count:empty { display: none; }
#members { display: flex; flex-direction: column; gap: .1rem; margin: 0; padding: 0; list-style: none; }
#members li { display: flex; align-items: center; gap: .55rem; padding: .3rem .35rem; border-radius: 8px; overflow-wrap: anywhere; }
#members li::before {
  content: attr(data-initial);
  display: grid; place-items: center; flex: none;
  width: 1.75rem; height: 1.75rem; border-radius: 50%;
  background: var(--c); color: var(--avatar-text); font-size: .8rem; font-weight: 700;
}
#members li.me::after { content: "(you)"; color: var(--muted); font-size: .8rem; }
#members li.more-members::before { content: none; }
.link-button { padding: 0; border: 0; background: none; color: var(--muted); font: inherit; font-size: .85rem; text-decoration: underline; cursor: pointer; }
.member-name { min-width: 0; overflow-wrap: anywhere; }
.member-menu { margin-left: auto; width: 1.7rem; height: 1.7rem; }
input:disabled { background: var(--surface-2); color: var(--muted); cursor: not-allowed; }
.c0 { --c: var(--c0); } .c1 { --c: var(--c1); } .c2 { --c: var(--c2); } .c3 { --c: var(--c3); }
.c4 { --c: var(--c4); } .c5 { --c: var(--c5); } .c6 { --c: var(--c6); } .c7 { --c: var(--c7); }

/* ---- chat column ---- */
.chat-head {
  display: flex; align-items: center; gap: .6rem; min-height: 3.25rem;
  padding: .75rem 1.25rem; border-bottom: 1px solid var(--border); background: var(--surface);
}
#room-title { min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; font-size: 1.05rem; }
.tag { padding: .05rem .5rem; border-radius: 999px; background: var(--surface-2); color: var(--muted); font-size: .75rem; font-weight: 600; }
.log-wrap { position: relative; display: flex; flex: 1; min-height: 0; }
.log:focus-visible { outline-offset: -2px; }
.log { flex: 1; display: flex; flex-direction: column; overflow-y: auto; overscroll-behavior: contain; padding: 1rem 1.25rem; }
.intro { margin: auto; max-width: 26rem; text-align: center; color: var(--muted); }
.intro-title { margin-bottom: .35rem; color: var(--text); font-size: 1.2rem; font-weight: 700; }
.empty { margin: auto; color: var(--muted); }
#older { align-self: center; margin-bottom: .75rem; }
#older[aria-busy="true"] { opacity: .6; cursor: progress; }
.jump { position: absolute; right: 1.25rem; bottom: .75rem; box-shadow: 0 2px 8px rgba(0, 0, 0, .15); }

#messages { display: flex; flex-direction: column; gap: .2rem; margin: 0; padding: 0; list-style: none; }
#messages:not(:empty) { margin-top: auto; }
#messages > li.message, #messages > li.pending {
  position: relative;
  display: grid; grid-template-columns: minmax(0, 1fr) auto; column-gap: .75rem;
  grid-template-areas: "head head" "quote quote" "text stamp" "reacts reacts";
  align-self: flex-start; max-width: min(42rem, calc(100% - 7.5rem));
  margin-top: .55rem; padding: .4rem .75rem .45rem;
  background: var(--surface); border: 1px solid var(--border); border-radius: 14px 14px 14px 4px;
}
#messages > li:first-child { margin-top: 0; }
#messages > li.cont { margin-top: 0; border-top-left-radius: 4px; }
#messages > li.mine { align-self: flex-end; background: var(--mine); border-color: var(--mine-border); border-radius: 14px 14px 4px 14px; }
#messages > li.mine.cont { border-top-right-radius: 4px; }
#messages > li.message:focus { outline: none; }
#messages > li.message:focus-visible { outline: 2px solid var(--focus); outline-offset: 2px; }
#messages > li.deleted { background: transparent; border-style: dashed; }
#messages > li.flash { animation: flash 1.6s ease-out; }
@keyframes flash { from { box-shadow: 0 0 0 3px var(--accent); } to { box-shadow: 0 0 0 3px transparent; } }
.head { grid-area: head; display: flex; align-items: baseline; gap: .4rem; min-width: 0; }
.author { grid-area: head; font-size: .82rem; font-weight: 700; color: var(--c, var(--muted)); overflow-wrap: anywhere; }
.cont .head { display: none; }
.badge {
  padding: 0 .35rem; border-radius: 4px; background: var(--surface-2); color: var(--muted);
  font-size: .64rem; font-weight: 700; letter-spacing: .05em; text-transform: uppercase; line-height: 1.5;
}
.mine .badge { background: var(--surface); }
.text { grid-area: text; white-space: pre-wrap; overflow-wrap: anywhere; }
.text.gone { color: var(--muted); font-style: italic; }
.stamp, .state { grid-area: stamp; align-self: end; font-size: .72rem; color: var(--muted); font-variant-numeric: tabular-nums; white-space: nowrap; }
.edited { font-style: italic; }
#messages > li.pending { border-style: dashed; opacity: .8; }
.pending .author { display: none; }
.pending .state { font-style: italic; }

/* a reply's quote */
.quote {
  grid-area: quote; display: flex; flex-direction: column; align-items: flex-start; min-width: 0;
  margin: .15rem 0 .3rem; padding: .2rem .6rem; border: 0; border-left: 3px solid var(--c, var(--border)); border-radius: 4px;
  background: var(--surface-2); color: var(--text); font-size: .82rem; font-weight: 400; text-align: left; white-space: normal;
}
button.quote:hover { background: var(--border); }
.quote-author { font-weight: 700; color: var(--c, var(--muted)); }
.quote-text { max-width: 100%; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; color: var(--muted); }
.quote-text.gone { font-style: italic; }

/* reactions */
.reactions { grid-area: reacts; display: flex; flex-wrap: wrap; gap: .3rem; margin-top: .35rem; }
.reaction {
  display: inline-flex; align-items: center; gap: .3rem; padding: .05rem .5rem; border-radius: 999px;
  background: var(--surface); font-size: .8rem; font-weight: 600; line-height: 1.6;
}
.reaction.mine { border-color: var(--accent); background: var(--mine); color: var(--accent); }
.mine .reaction:not(.mine) { background: var(--surface); }
.reaction-emoji { font-size: 1rem; line-height: 1; }
.reaction-emoji, .picker .menu-item {
  font-family: "Apple Color Emoji", "Segoe UI Emoji", "Noto Color Emoji", "Twemoji Mozilla", sans-serif;
}

/* a message's actions: shown on hover, on focus, on a tap (li.active), and while its menu is open */
/* Beside the bubble (each bubble leaves room for it), on its outer side; on a phone, over its top edge. */
.actions {
  position: absolute; top: .15rem; left: calc(100% + .35rem); z-index: 1;
  display: flex; gap: .1rem; padding: .15rem;
  background: var(--surface); border: 1px solid var(--border); border-radius: 8px; box-shadow: 0 2px 8px rgba(0, 0, 0, .12);
  opacity: 0; pointer-events: none; transition: opacity .1s;
}
.mine > .actions { left: auto; right: calc(100% + .35rem); }
/* A bridge over the gap, so that the pointer keeps the message hovered on its way to the buttons. */
.actions::before { content: ""; position: absolute; top: 0; bottom: 0; right: 100%; width: .5rem; }
.mine > .actions::before { right: auto; left: 100%; }
@media (hover: hover) { #messages > li.message:hover > .actions { opacity: 1; pointer-events: auto; } }
#messages > li.message:has(:focus-visible) > .actions, #messages > li.message:focus-visible > .actions,
#messages > li.active > .actions, #messages > li.menu-open > .actions {
  opacity: 1; pointer-events: auto;
}
.icon-button {
  display: inline-grid; place-items: center; flex: none; width: 1.9rem; height: 1.9rem; padding: 0;
  border: 0; border-radius: 6px; background: transparent; color: var(--muted);
}
.icon-button:hover, .icon-button[aria-expanded="true"] { background: var(--surface-2); color: var(--text); }
.icon { width: 1.1rem; height: 1.1rem; fill: none; stroke: currentColor; stroke-width: 2; stroke-linecap: round; stroke-linejoin: round; }

/* editing in place */
.editor { grid-area: text; display: flex; flex-direction: column; gap: .35rem; width: min(34rem, 70vw); max-width: 100%; margin: .15rem 0; }
.edit-field { resize: vertical; max-height: 14rem; line-height: 1.4; }
.editor-row { display: flex; align-items: center; gap: .4rem; }
.editor-row .help { margin-right: auto; }

/* moderation lines */
#messages > li.system {
  display: flex; align-items: baseline; justify-content: center; gap: .5rem; align-self: center;
  max-width: 90%; margin: .6rem 0 .2rem; padding: .2rem .8rem; border-radius: 999px;
  background: var(--surface-2); color: var(--muted); font-size: .8rem; text-align: center;
}
#messages > li.system.ban, #messages > li.system.kick { background: var(--bad-bg); color: var(--bad); }
.system-text { overflow-wrap: anywhere; }
li.system .icon { flex: none; align-self: center; width: .9rem; height: .9rem; }
li.system .time { flex: none; font-size: .7rem; opacity: .8; }

/* menus: the reaction picker, "more", a person's moderation */
.menu {
  position: fixed; z-index: 20; display: flex; flex-direction: column; min-width: 11rem; padding: .3rem;
  background: var(--surface); border: 1px solid var(--border); border-radius: 10px; box-shadow: 0 8px 24px rgba(0, 0, 0, .18);
}
.menu.picker { flex-direction: row; min-width: 0; gap: .1rem; }
.menu-item { padding: .4rem .65rem; border: 0; border-radius: 6px; background: transparent; font-weight: 500; text-align: left; }
.menu-item:hover, .menu-item:focus-visible { background: var(--surface-2); }
.menu-item:focus-visible { outline-offset: -2px; }
.menu-item.danger { color: var(--bad); }
.picker .menu-item { padding: .2rem .4rem; font-size: 1.3rem; line-height: 1.25; }
.picker .menu-item[aria-checked="true"] { background: var(--mine); box-shadow: inset 0 0 0 1px var(--accent); }
.menu-divider { height: 1px; margin: .25rem .2rem; background: var(--border); }

/* the modal dialog */
.dialog {
  width: min(26rem, calc(100vw - 2rem)); padding: 1.25rem; border: 1px solid var(--border); border-radius: 14px;
  background: var(--surface); color: var(--text); box-shadow: 0 20px 50px rgba(0, 0, 0, .3);
}
.dialog::backdrop { background: rgba(15, 17, 21, .45); }
.dialog h2 { font-size: 1.1rem; }
.dialog .help { font-size: .85rem; }
.dialog-buttons { display: flex; justify-content: flex-end; gap: .5rem; margin-top: .75rem; }
.dialog-buttons .danger { background: var(--bad); border-color: var(--bad); color: var(--surface); }
.dialog-buttons .danger:hover { filter: brightness(1.1); background: var(--bad); }
select {
  width: 100%; padding: .5rem .65rem; border: 1px solid var(--border); border-radius: 8px;
  background: var(--surface); font: inherit; color: inherit;
}

/* ---- bottom: typing, errors, composer ---- */
.bottom {
  display: flex; flex-direction: column; gap: .35rem;
  padding: .35rem 1.25rem calc(.9rem + env(safe-area-inset-bottom));
  background: var(--surface); border-top: 1px solid var(--border);
}
.under { display: flex; gap: 1rem; justify-content: space-between; min-height: 1.2rem; font-size: .78rem; color: var(--muted); }
.typing { font-style: italic; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.hint { margin-left: auto; white-space: nowrap; }
.error { padding: .45rem .7rem; border-radius: 8px; background: var(--bad-bg); color: var(--bad); font-size: .88rem; }
.error:empty { display: none; }
.reply-bar {
  display: flex; align-items: center; gap: .5rem; padding: .15rem .2rem .15rem .7rem;
  border-left: 3px solid var(--accent); border-radius: 6px; background: var(--surface-2); font-size: .85rem;
}
.reply-quote { flex: 1; min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; color: var(--muted); }
.reply-quote strong { color: var(--text); }
#composer { display: flex; gap: .5rem; align-items: flex-end; }
#text { display: block; max-height: 12rem; resize: none; line-height: 1.4; overflow-y: auto; }
#send { height: 2.5rem; }

/* ---- one column ---- */
@media (max-width: 720px) {
  .app { grid-template-columns: minmax(0, 1fr); grid-template-rows: auto minmax(0, 1fr); }
  .side { gap: .6rem; padding: .6rem .75rem; overflow: visible; border-right: 0; border-bottom: 1px solid var(--border); }
  .logo { font-size: 1.05rem; }
  .logo::before { width: 1.2rem; height: 1.2rem; }
  #panel-toggle { display: inline-block; margin-left: auto; max-width: 40vw; overflow: hidden; text-overflow: ellipsis; }
  #panel-toggle::after { content: " ▾"; }
  #panel-toggle[aria-expanded="true"]::after { content: " ▴"; }
  .side:not(.open) .panel { display: none; }
  .panel { max-height: 60vh; max-height: 60dvh; overflow-y: auto; gap: 1rem; padding: .1rem; }
  .people { flex-direction: row; align-items: center; gap: .5rem; }
  .people h2 { flex: none; }
  #members { flex-direction: row; gap: .35rem; overflow-x: auto; scrollbar-width: none; }
  #members li { flex: none; gap: .35rem; padding: .1rem .55rem .1rem .15rem; border: 1px solid var(--border); border-radius: 999px; font-size: .85rem; overflow-wrap: normal; }
  #members li::before { width: 1.35rem; height: 1.35rem; font-size: .7rem; }
  .chat-head { display: none; }
  .log { padding: .75rem; }
  #messages > li.message, #messages > li.pending { max-width: 88%; }
  .actions, .mine > .actions { top: -1.4rem; right: .4rem; left: auto; }
  .actions::before { display: none; }
  #members li .badge { display: none; }
  .member-menu { width: 1.4rem; height: 1.4rem; margin-left: 0; }
  .bottom { padding: .3rem .6rem calc(.5rem + env(safe-area-inset-bottom)); }
  .hint { display: none; }
  /* 16px keeps iOS from zooming into a field on focus. */
  input, textarea { font-size: 16px; }
}
@media (pointer: coarse) { .hint { display: none; } }
@media (prefers-reduced-motion: reduce) { *, *::before, *::after { animation: none !important; } }
`;
