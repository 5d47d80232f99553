import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/**
 * The UI's static files, fingerprinted by content (`/ui/assets/ui.3f2a…css`) so they can be
 * cached forever: a new build changes the name. htmx is the npm package's own dist file, read
 * once at startup from node_modules (no CDN, no build step). Styles and scripts are files, never
 * inline, so the Content-Security-Policy can forbid inline code.
 */
export interface Asset {
  path: string;
  contentType: string;
  body: Buffer;
}

const STYLES = `
:root { color-scheme: light dark; --bg: #ffffff; --fg: #1b1f24; --muted: #5b6570; --line: #d8dee4; --accent: #0b62d6; --danger: #b42318; --panel: #f5f7fa; }
@media (prefers-color-scheme: dark) { :root { --bg: #0f1419; --fg: #e6e9ed; --muted: #9aa5b1; --line: #2d3540; --accent: #5ea1ff; --danger: #ff6b5e; --panel: #161c23; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg); color: var(--fg); }
a { color: var(--accent); }
header { display: flex; flex-wrap: wrap; gap: .5rem 1.25rem; align-items: center; padding: .6rem 1.25rem; border-bottom: 1px solid var(--line); background: var(--panel); }
header .brand { font-weight: 700; color: var(--fg); text-decoration: none; margin-right: .5rem; }
header nav { display: flex; flex-wrap: wrap; gap: .25rem 1rem; flex: 1; }
header form { margin: 0; }
main { padding: 1rem 1.25rem 3rem; max-width: 1200px; margin: 0 auto; }
h1 { font-size: 1.4rem; margin: .5rem 0 1rem; word-break: break-all; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .4rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th a { color: inherit; }
td.num, th.num { text-align: right; white-space: nowrap; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .85em; word-break: break-all; }
.muted { color: var(--muted); }
.toolbar { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin-bottom: .75rem; }
input[type=text], input[type=search], input[type=password], textarea, select { font: inherit; padding: .35rem .5rem; border: 1px solid var(--line); border-radius: 6px; background: var(--bg); color: var(--fg); }
textarea { width: 100%; min-height: 6rem; }
button, .button { font: inherit; padding: .35rem .8rem; border-radius: 6px; border: 1px solid var(--line); background: var(--panel); color: var(--fg); cursor: pointer; text-decoration: none; display: inline-block; }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
.danger { color: var(--danger); border-color: var(--danger); }
.pager { display: flex; gap: 1rem; margin-top: .75rem; align-items: center; }
.notice { padding: .6rem .8rem; border-radius: 6px; border: 1px solid var(--line); background: var(--panel); margin-bottom: 1rem; }
.notice.error { border-color: var(--danger); color: var(--danger); }
.pull { display: flex; gap: .5rem; align-items: center; margin: .25rem 0; }
.pull code { flex: 1; padding: .35rem .5rem; background: var(--panel); border: 1px solid var(--line); border-radius: 6px; }
.card { max-width: 24rem; margin: 3rem auto; padding: 1.25rem; border: 1px solid var(--line); border-radius: 8px; background: var(--panel); }
.card label, form.stack label { display: block; margin: .5rem 0 .2rem; }
.card input { width: 100%; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
meter { width: 12rem; }
.scroll { overflow-x: auto; }
svg.chart { width: 100%; max-width: 48rem; height: auto; display: block; margin: .5rem 0 1rem; }
svg.chart .bar { fill: var(--accent); }
svg.chart .bar.over { fill: var(--danger); }
svg.chart .track { fill: var(--panel); stroke: var(--line); }
svg.chart text { fill: var(--fg); font: 12px system-ui, sans-serif; }
svg.chart text.value { fill: var(--muted); }
nav.crumbs { margin-bottom: .5rem; }
#audit code { word-break: normal; white-space: nowrap; }
.tabs { display: flex; gap: 1rem; margin: -.5rem 0 1rem; }
.tabs .current { font-weight: 600; color: var(--fg); text-decoration: none; }
form.stack fieldset { border: 1px solid var(--line); border-radius: 8px; margin: 0 0 1rem; padding: .5rem 1rem 1rem; }
form.stack legend { font-weight: 600; }
form.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(11rem, 1fr)); gap: .5rem 1rem; align-items: end; margin-bottom: .75rem; }
form.grid label { display: flex; flex-direction: column; gap: .2rem; }
input[type=datetime-local], input[type=number] { font: inherit; padding: .35rem .5rem; border: 1px solid var(--line); border-radius: 6px; background: var(--bg); color: var(--fg); }
@media (max-width: 700px) {
  main { padding: .75rem; }
  header nav { order: 3; flex-basis: 100%; }
  .hide-narrow { display: none; }
  th, td { padding: .35rem .3rem; }
  meter { width: 5rem; }
}
`;

const SCRIPT = `
// Copy buttons: <button data-copy="text">. No inline handlers (the CSP forbids them).
document.addEventListener('click', async (event) => {
  const button = event.target instanceof Element ? event.target.closest('[data-copy]') : null;
  if (!button) return;
  const text = button.getAttribute('data-copy') || '';
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = document.createElement('textarea');
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand('copy');
    area.remove();
  }
  button.textContent = 'Copied';
  setTimeout(() => { button.textContent = 'Copy'; }, 1500);
});
`;

function fingerprinted(name: string, extension: string, contentType: string, body: Buffer): Asset {
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 16);
  return { path: `/ui/assets/${name}.${hash}.${extension}`, contentType, body };
}

export interface UiAssets {
  styles: Asset;
  script: Asset;
  htmx: Asset;
  byPath: Map<string, Asset>;
}

export function loadAssets(): UiAssets {
  const require = createRequire(import.meta.url);
  const htmxBody = readFileSync(require.resolve('htmx.org/dist/htmx.min.js'));
  const styles = fingerprinted('ui', 'css', 'text/css; charset=utf-8', Buffer.from(STYLES));
  const script = fingerprinted('ui', 'js', 'text/javascript; charset=utf-8', Buffer.from(SCRIPT));
  const htmx = fingerprinted('htmx', 'js', 'text/javascript; charset=utf-8', htmxBody);
  return { styles, script, htmx, byPath: new Map([styles, script, htmx].map((asset) => [asset.path, asset])) };
}
