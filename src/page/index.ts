/**
 * The chat page, served from modules so that every runtime serves it with no static-file setup.
 * The script is src/page/app.ts, bundled into bundle.gen.ts by scripts/build-page.ts.
 */
import { script } from "./bundle.gen.ts";

const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Parley</title>
<link rel="stylesheet" href="/app.css">
</head>
<body>
<header><h1>Parley</h1><span id="status" role="status">offline</span></header>
<form id="room-form">
  <label>Room <input id="room-input" name="room" value="lobby" pattern="[A-Za-z0-9_\\-]{1,64}" required></label>
  <label>Name <input id="name-input" name="name" maxlength="32" placeholder="guest"></label>
  <button>Join</button>
</form>
<ul id="members" aria-label="Members"></ul>
<ol id="messages" aria-live="polite" aria-label="Messages"></ol>
<form id="composer"><label>Message <input id="text" autocomplete="off" maxlength="2000"></label><button>Send</button></form>
<script src="/app.js" type="module"></script>
</body>
</html>`;

const style = `body{font:16px/1.4 system-ui,sans-serif;max-width:48rem;margin:0 auto;padding:1rem}
header{display:flex;justify-content:space-between;align-items:baseline}
#log{list-style:none;padding:0;min-height:50vh;overflow-wrap:anywhere}
.meta{color:#666;font-style:italic}
#members{display:flex;gap:.5rem;list-style:none;padding:0;color:#246}
form{display:flex;gap:.5rem;flex-wrap:wrap;align-items:end}
input{font:inherit;padding:.3rem}
#say input{flex:1}
`;

/** The page's HTML, script and stylesheet, served at `/`, `/app.js` and `/app.css`. */
export const page = { html, script, style };
