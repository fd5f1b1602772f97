import crypto from 'node:crypto';

/**
 * The fixed parts of report.html: CSS, the filter/check script, placeholder icons, and
 * escaping. Everything is inline (the page must work offline, from a card reader's
 * folder); a Content-Security-Policy with the hashes of exactly this style and script
 * forbids anything else: no network, no other script even if a name slipped through.
 */

const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g;
const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text for element content and quoted attribute values. Names come from untrusted bytes. */
export function escapeHtml(text: string): string {
  return text.replace(CONTROL, '\ufffd').replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

/** A class-name token from a value that should be one of ours ('allocated', 'ok' …). */
export function token(value: string): string {
  return value.toLowerCase().replace(/[^a-z0-9-]/g, '') || 'unknown';
}

/** A relative URL for a path under the output folder: each segment percent-encoded. */
export function fileHref(relPath: string): string {
  return relPath
    .split('/')
    .map((s) => encodeURIComponent(s))
    .join('/');
}

export const STYLE = `
:root{--bg:#f4f5f7;--fg:#1d2127;--muted:#5b6470;--card:#fff;--line:#dde1e6;--frame:#e8ebef;
--allocated:#2e7d32;--deleted:#d84315;--orphan:#6a1b9a;--carved:#1565c0;--unknown:#546e7a;
--ok:#2e7d32;--unverified:#a86400;--damaged:#c62828}
@media (prefers-color-scheme:dark){:root{--bg:#15181c;--fg:#e6e8eb;--muted:#9aa3ad;--card:#1f2329;--line:#323840;--frame:#2a2f36}}
*{box-sizing:border-box}
body{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,Ubuntu,sans-serif;background:var(--bg);color:var(--fg)}
header{padding:16px 20px 8px}
h1{font-size:20px;margin:0 0 4px;font-weight:600;word-break:break-all}
.sub{color:var(--muted);margin:0 0 10px}
.counts{display:flex;flex-wrap:wrap;gap:6px 14px;margin:0;padding:0;list-style:none}
.counts li{display:flex;align-items:center;gap:6px}
.counts b{font-size:16px}
.dot{width:10px;height:10px;border-radius:50%;display:inline-block;background:var(--unknown)}
.warn{color:var(--damaged);font-weight:600}
nav{position:sticky;top:0;z-index:1;display:flex;flex-wrap:wrap;align-items:center;gap:8px 18px;padding:10px 20px;background:var(--bg);border-bottom:1px solid var(--line)}
.group{display:flex;flex-wrap:wrap;align-items:center;gap:6px}
.glabel{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
nav button{font:inherit;font-size:13px;cursor:pointer;border:1px solid var(--line);background:var(--card);color:var(--fg);border-radius:14px;padding:3px 10px;display:inline-flex;align-items:center;gap:6px}
nav button[aria-pressed=false]{opacity:.45;text-decoration:line-through}
nav button b{font-weight:600}
#shown{margin-left:auto;color:var(--muted)}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(210px,1fr));gap:14px;padding:16px 20px 28px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;overflow:hidden;display:flex;flex-direction:column;min-width:0}
.card[hidden]{display:none}
.card.prov-deleted{border-top:3px solid var(--deleted)}.card.prov-orphan{border-top:3px solid var(--orphan)}.card.prov-carved{border-top:3px solid var(--carved)}.card.prov-allocated{border-top:3px solid var(--allocated)}
.frame{position:relative;aspect-ratio:4/3;background:var(--frame);display:flex;align-items:center;justify-content:center;overflow:hidden;color:var(--muted)}
.frame img{width:100%;height:100%;object-fit:contain;display:block}
.frame img.rot90,.frame img.rot180,.frame img.rot270{position:absolute;left:50%;top:50%}
.frame img.rot90,.frame img.rot270{width:75%;height:133.34%}
.frame img.rot90{transform:translate(-50%,-50%) rotate(90deg)}
.frame img.rot180{transform:translate(-50%,-50%) rotate(180deg)}
.frame img.rot270{transform:translate(-50%,-50%) rotate(270deg)}
.frame img.broken{display:none}
.ph{display:flex;flex-direction:column;align-items:center;gap:4px}
.ph svg{width:56px;height:56px}
.ph span{font-weight:600;letter-spacing:.05em;font-size:12px}
.info{padding:8px 10px 10px;display:flex;flex-direction:column;gap:5px;min-width:0}
.name{font-size:14px;font-weight:600;margin:0;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.badges{display:flex;flex-wrap:wrap;gap:4px}
.badge{font-size:11px;font-weight:600;border-radius:10px;padding:1px 8px;border:1px solid transparent;color:#fff;background:var(--unknown)}
.prov-allocated .dot,.badge.prov-allocated{background:var(--allocated)}
.prov-deleted .dot,.badge.prov-deleted{background:var(--deleted)}
.prov-orphan .dot,.badge.prov-orphan{background:var(--orphan)}
.prov-carved .dot,.badge.prov-carved{background:var(--carved)}
.badge.st-ok{background:transparent;color:var(--ok);border-color:var(--ok)}
.badge.st-unverified{background:transparent;color:var(--unverified);border-color:var(--unverified)}
.badge.st-damaged{background:var(--damaged)}
.st-ok .dot{background:var(--ok)}.st-unverified .dot{background:var(--unverified)}.st-damaged .dot{background:var(--damaged)}
dl{display:grid;grid-template-columns:auto 1fr;gap:1px 8px;margin:0;font-size:12px}
dt{color:var(--muted)}
dd{margin:0;min-width:0;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.path{font:11px/1.35 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:var(--muted);margin:0;overflow-wrap:anywhere}
a{color:inherit}
a.open{text-decoration:none;display:block}
a.open:focus-visible{outline:2px solid var(--carved);outline-offset:-2px}
footer{color:var(--muted);font-size:12px;padding:0 20px 24px}
`;

/**
 * Filters (toggle buttons per provenance, status and kind) and the thumbnail check: every
 * thumbnail is decoded; the body then carries data-rendered / data-failed counts and each
 * image its natural width (data-w), which the browser test reads from the DOM. A preview
 * that does not decode is hidden behind its placeholder text.
 */
export const SCRIPT = `
(function () {
  'use strict';
  var body = document.body;
  var cards = Array.prototype.slice.call(document.querySelectorAll('article.card'));
  var buttons = Array.prototype.slice.call(document.querySelectorAll('button[data-filter]'));
  var shown = document.getElementById('shown');
  function apply() {
    var on = {};
    buttons.forEach(function (b) {
      if (b.getAttribute('aria-pressed') === 'true') on[b.getAttribute('data-filter') + ':' + b.getAttribute('data-value')] = true;
    });
    var n = 0;
    cards.forEach(function (c) {
      var visible = !!(on['provenance:' + c.getAttribute('data-provenance')] && on['status:' + c.getAttribute('data-status')] && on['kind:' + c.getAttribute('data-kind')]);
      c.hidden = !visible;
      if (visible) n++;
    });
    if (shown) shown.textContent = n + ' of ' + cards.length + ' shown';
  }
  // The filter lives in the address too (#provenance=deleted,carved&status=damaged): reload- and link-safe.
  function fromHash() {
    var text = '';
    try { text = decodeURIComponent(location.hash.replace(/^#/, '')); } catch (e) { return; }
    text.split('&').forEach(function (part) {
      var kv = part.split('=');
      if (kv.length !== 2) return;
      var values = kv[1].split(',');
      var group = buttons.filter(function (b) { return b.getAttribute('data-filter') === kv[0]; });
      group.forEach(function (b) { b.setAttribute('aria-pressed', values.indexOf(b.getAttribute('data-value')) >= 0 ? 'true' : 'false'); });
    });
  }
  function toHash() {
    var groups = {}, order = [], parts = [];
    buttons.forEach(function (b) {
      var g = b.getAttribute('data-filter');
      if (!groups[g]) { groups[g] = { all: true, on: [] }; order.push(g); }
      if (b.getAttribute('aria-pressed') === 'true') groups[g].on.push(b.getAttribute('data-value'));
      else groups[g].all = false;
    });
    order.forEach(function (g) { if (!groups[g].all) parts.push(g + '=' + groups[g].on.join(',')); });
    try { history.replaceState(null, '', parts.length ? '#' + parts.join('&') : location.pathname + location.search); } catch (e) { /* some viewers forbid it */ }
  }
  buttons.forEach(function (b) {
    b.addEventListener('click', function (ev) {
      var group = b.getAttribute('data-filter');
      if (ev.altKey || ev.shiftKey) {
        buttons.forEach(function (o) { if (o.getAttribute('data-filter') === group) o.setAttribute('aria-pressed', o === b ? 'true' : 'false'); });
      } else {
        b.setAttribute('aria-pressed', b.getAttribute('aria-pressed') === 'true' ? 'false' : 'true');
      }
      apply();
      toHash();
    });
  });
  var reset = document.getElementById('reset');
  if (reset) reset.addEventListener('click', function () {
    buttons.forEach(function (b) { b.setAttribute('aria-pressed', 'true'); });
    apply();
    toHash();
  });
  fromHash();
  apply();

  var imgs = Array.prototype.slice.call(document.querySelectorAll('img.thumb'));
  var ok = 0, failed = 0, pending = imgs.length;
  function finish() {
    body.setAttribute('data-rendered', String(ok));
    body.setAttribute('data-failed', String(failed));
    body.setAttribute('data-checked', 'true');
  }
  function settle() { if (--pending === 0) finish(); }
  function broken(img) {
    failed++;
    img.setAttribute('data-w', '0');
    img.classList.add('broken');
    var note = document.createElement('span');
    note.className = 'ph';
    note.textContent = 'preview not readable';
    img.parentNode.appendChild(note);
  }
  imgs.forEach(function (img) {
    var decoded = typeof img.decode === 'function' ? img.decode() : Promise.resolve();
    decoded.then(function () {
      if (img.naturalWidth > 0) { ok++; img.setAttribute('data-w', String(img.naturalWidth)); }
      else broken(img);
      settle();
    }, function () { broken(img); settle(); });
  });
  if (pending === 0) finish();
})();
`;

const sha256 = (text: string) => `'sha256-${crypto.createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/** No network, no plugins, no forms; only this page's own style and script, images only as data: URIs. */
export const CSP = `default-src 'none'; img-src data:; style-src ${sha256(STYLE)}; script-src ${sha256(SCRIPT)}; base-uri 'none'; form-action 'none'`;

const svg = (body: string) =>
  `<svg viewBox="0 0 48 48" aria-hidden="true" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" stroke-linejoin="round">${body}</svg>`;

/** Placeholder icons (inline SVG: no files, no fonts). */
export const ICONS = {
  video: svg('<rect x="5" y="10" width="38" height="28" rx="4"/><path d="M20 18v12l10-6z" fill="currentColor"/><path d="M5 16h4M5 32h4M39 16h4M39 32h4"/>'),
  picture: svg('<rect x="6" y="9" width="36" height="30" rx="3"/><circle cx="17" cy="19" r="3.5"/><path d="M8 35l11-11 8 8 5-5 9 9"/>'),
  other: svg('<path d="M13 5h15l9 9v29H13z"/><path d="M28 5v9h9M18 24h14M18 30h14M18 36h9"/>'),
} as const;
