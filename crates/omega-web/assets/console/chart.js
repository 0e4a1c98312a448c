// A tiny SVG chart module: stacked bar charts with axes, a legend and native tooltips. Colours
// come from CSS classes (`series-N`), so dark mode restyles them; every label is a text node.
import { h, s } from './dom.js';

/** A "nice" axis maximum and tick step for values up to `max`. */
function niceScale(max, ticks = 4) {
  if (max <= 0) return { top: ticks, step: 1 };
  const raw = max / ticks;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * magnitude).find((candidate) => candidate >= raw) || raw;
  const whole = Math.max(1, Math.ceil(step));
  return { top: whole * Math.ceil(max / whole), step: whole };
}

/**
 * A stacked bar chart.
 * - `labels`: one per bar (x axis);
 * - `series`: `[{ name, values, detail? }]`, `detail(i)` adding to a bar's tooltip;
 * - `title`: the chart's accessible name.
 */
export function barChart({ labels, series, title, xLabel = (label) => label, height = 220, barWidth = 28 }) {
  const left = 40;
  const right = 12;
  const top = 12;
  const bottom = 42;
  const gap = Math.max(4, Math.round(barWidth / 3));
  const width = left + right + labels.length * (barWidth + gap);
  const totals = labels.map((_, i) => series.reduce((sum, item) => sum + (item.values[i] || 0), 0));
  const { top: maxValue, step } = niceScale(Math.max(0, ...totals));
  const plot = height - top - bottom;
  const y = (value) => top + plot - (value / maxValue) * plot;

  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title, preserveAspectRatio: 'xMinYMin meet' }, s('title', {}, title));
  for (let value = 0; value <= maxValue; value += step) {
    svg.appendChild(s('line', { class: 'grid', x1: left, x2: width - right, y1: y(value), y2: y(value) }));
    svg.appendChild(s('text', { class: 'tick', x: left - 6, y: y(value) + 4, 'text-anchor': 'end' }, String(value)));
  }
  labels.forEach((label, i) => {
    const x = left + i * (barWidth + gap) + gap / 2;
    let base = 0;
    series.forEach((item, index) => {
      const value = item.values[i] || 0;
      if (!value) return;
      const rect = s('rect', { class: `bar series-${index % 8}`, x, width: barWidth, y: y(base + value), height: Math.max(1, y(base) - y(base + value)), rx: 2 });
      const extra = item.detail ? item.detail(i) : '';
      rect.appendChild(s('title', {}, `${xLabel(label, true)}${item.name ? ` · ${item.name}` : ''}: ${value}${extra ? ` (${extra})` : ''}`));
      svg.appendChild(rect);
      base += value;
    });
    if (totals[i]) svg.appendChild(s('text', { class: 'total', x: x + barWidth / 2, y: y(totals[i]) - 3, 'text-anchor': 'middle' }, String(totals[i])));
    const every = Math.ceil(labels.length / 14);
    if (i % every === 0) svg.appendChild(s('text', { class: 'label', x: x + barWidth / 2, y: height - bottom + 16, 'text-anchor': 'middle' }, xLabel(label, false)));
  });
  svg.appendChild(s('line', { class: 'axis', x1: left, x2: width - right, y1: y(0), y2: y(0) }));

  const legend = series.length > 1 || series[0]?.name
    ? h('ul', { class: 'legend' }, series.map((item, index) => h('li', {}, s('svg', { class: 'swatch', viewBox: '0 0 10 10', width: '10', height: '10', 'aria-hidden': 'true' }, s('rect', { class: `series-${index % 8}`, width: 10, height: 10, rx: 2 })), ' ', item.name)))
    : null;
  return h('figure', { class: 'chart-figure' }, h('div', { class: 'chart-scroll' }, svg), legend);
}
