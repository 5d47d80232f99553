import { html, type SafeHtml } from './html.js';

/**
 * Horizontal bar charts as inline SVG, drawn on the server: no chart library, no script, and
 * no inline style (colours come from classes in the stylesheet, so light and dark both work).
 */
export interface Bar {
  label: string;
  value: number;
  /** What is written after the bar (the value, formatted). */
  text: string;
  href?: string;
  /** Drawn in the danger colour (a quota exceeded). */
  over?: boolean;
}

const WIDTH = 640;
const LABEL = 220;
const VALUE = 160;
const ROW = 24;

export function barChart(title: string, bars: Bar[], max = Math.max(1, ...bars.map((bar) => bar.value))): SafeHtml {
  const span = WIDTH - LABEL - VALUE;
  const height = bars.length * ROW + 4;
  return html`<svg class="chart" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-label="${title}" xmlns="http://www.w3.org/2000/svg">
<title>${title}</title>
${bars.map((bar, index) => {
    const y = index * ROW + 2;
    const width = Math.max(bar.value > 0 ? 1 : 0, Math.round((Math.min(bar.value, max) / max) * span));
    const label = html`<text x="0" y="${y + 15}">${truncate(bar.label, 30)}</text>`;
    return html`<g>${bar.href ? html`<a href="${bar.href}">${label}</a>` : label}
<rect class="track" x="${LABEL}" y="${y + 3}" width="${span}" height="${ROW - 8}" rx="3"></rect>
<rect class="bar${bar.over ? ' over' : ''}" x="${LABEL}" y="${y + 3}" width="${width}" height="${ROW - 8}" rx="3"></rect>
<text class="value" x="${LABEL + span + 6}" y="${y + 15}">${bar.text}</text></g>`;
  })}
</svg>`;
}

function truncate(text: string, length: number): string {
  return text.length > length ? `…${text.slice(text.length - length + 1)}` : text;
}
