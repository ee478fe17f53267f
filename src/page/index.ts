/**
 * The chat page, served from modules so that every runtime serves it with no static-file setup.
 * The script is src/page/app.ts, bundled into bundle.gen.ts by scripts/build-page.ts; the stylesheet
 * is style.ts. The HTML holds no data: the script fills it in with textContent.
 */
import { script } from "./bundle.gen.ts";
import { style } from "./style.ts";

const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">
<meta name="color-scheme" content="light dark">
<title>Parley</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/app.css">
<script src="/app.js" type="module"></script>
</head>
<body>
<div class="app">
<aside id="side" class="side open" aria-label="Room and people">
  <div class="brand">
    <h1 class="logo">Parley</h1>
    <div class="conn">
      <span id="status" role="status">Not connected</span>
      <button id="rejoin" type="button" class="small" hidden>Reconnect</button>
    </div>
    <button id="panel-toggle" type="button" class="small" aria-expanded="true" aria-controls="panel">Room</button>
  </div>
  <div id="panel" class="panel">
    <section class="card" aria-labelledby="join-heading">
      <h2 id="join-heading">Join a room</h2>
      <form id="room-form" class="stack" autocomplete="off">
        <div id="name-field" class="stack">
          <label for="name-input">Your name</label>
          <input id="name-input" name="name" maxlength="32" placeholder="Guest" autocomplete="nickname" spellcheck="false">
        </div>
        <label for="room-input">Room</label>
        <div class="row">
          <input id="room-input" name="room" value="lobby" list="room-list" required maxlength="64"
            pattern="[A-Za-z0-9_\\-]{1,64}" title="1–64 letters, digits, - or _"
            autocapitalize="off" spellcheck="false" aria-describedby="room-help">
          <button type="submit" class="primary">Join</button>
        </div>
        <p id="room-help" class="help">Letters, digits, - and _. Anyone can join a named room.</p>
        <datalist id="room-list"></datalist>
      </form>
      <div class="or" aria-hidden="true">or</div>
      <button id="new-room" type="button">Create a private room</button>
    </section>
    <section id="share" class="card" aria-labelledby="share-heading" hidden>
      <h2 id="share-heading">Invite people</h2>
      <a id="share-link" href="/" class="share-link"></a>
      <button id="copy-link" type="button" class="small">Copy link</button>
    </section>
    <section id="you" class="card" aria-labelledby="you-heading" hidden>
      <h2 id="you-heading">Change your name</h2>
      <form id="rename-form" class="row">
        <label for="rename-input" class="vh">New name</label>
        <input id="rename-input" name="name" maxlength="32" required autocomplete="nickname" spellcheck="false">
        <button id="rename-button" type="submit">Rename</button>
      </form>
      <p id="rename-note" class="help signed-note" hidden></p>
    </section>
  </div>
  <section id="people" class="people" aria-labelledby="people-heading" hidden>
    <h2 id="people-heading">People <span id="member-count" class="count"></span></h2>
    <ul id="members"></ul>
  </section>
</aside>
<main class="chat">
  <header class="chat-head">
    <h2 id="room-title">Parley</h2>
    <span id="room-kind" class="tag" hidden>private</span>
  </header>
  <div class="log-wrap">
    <div id="log" class="log" tabindex="0" role="region" aria-label="Conversation">
      <div id="intro" class="intro">
        <p class="intro-title">Welcome to Parley</p>
        <p>Choose a name and a room to start chatting, or create a private room and share its link.</p>
      </div>
      <button id="older" type="button" class="pill" hidden>Load older messages</button>
      <ol id="messages" aria-live="polite" aria-label="Messages"></ol>
      <p id="empty" class="empty" hidden>No messages here yet. Say hello!</p>
    </div>
    <button id="jump" type="button" class="pill jump" hidden>New messages ↓</button>
  </div>
  <div class="bottom">
    <div class="under">
      <p id="typing" class="typing"></p>
      <p class="hint">Enter to send · Shift+Enter for a new line · ↑ to edit your last message</p>
    </div>
    <p id="error" class="error" role="alert"></p>
    <div id="reply-bar" class="reply-bar" hidden>
      <p id="reply-quote" class="reply-quote"></p>
      <button id="reply-cancel" type="button" class="icon-button" aria-label="Cancel the reply"></button>
    </div>
    <form id="composer">
      <label for="text" class="vh">Message</label>
      <textarea id="text" name="text" rows="1" placeholder="Join a room to chat" enterkeyhint="send" disabled></textarea>
      <button id="send" type="submit" class="primary" disabled>Send</button>
    </form>
  </div>
</main>
</div>
<dialog id="dialog" class="dialog" aria-labelledby="dialog-title" aria-describedby="dialog-text">
  <form id="dialog-form" method="dialog" class="stack">
    <h2 id="dialog-title"></h2>
    <p id="dialog-text" class="help"></p>
    <div id="dialog-duration-field" class="stack" hidden>
      <label for="dialog-duration">For how long</label>
      <select id="dialog-duration"></select>
    </div>
    <div id="dialog-reason-field" class="stack" hidden>
      <label for="dialog-reason">Reason <span class="help">(optional; everyone in the room sees it)</span></label>
      <input id="dialog-reason" maxlength="200" autocomplete="off">
    </div>
    <div class="dialog-buttons">
      <button id="dialog-cancel" type="button">Cancel</button>
      <button id="dialog-ok" type="submit" class="danger"></button>
    </div>
  </form>
</dialog>
</body>
</html>`;

/** The page's HTML, script and stylesheet, served at `/`, `/app.js` and `/app.css`. */
export const pageAssets = { html, script, style };
