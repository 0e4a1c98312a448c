// The dashboard: messages per channel per day over the last 14 days and the distribution of lead
// scores, from `GET /api/v1/stats/inbox`, drawn by chart.js; refreshed as messages arrive.
import * as api from './api.js';
import { h, replace, debounce } from './dom.js';
import { barChart } from './chart.js';

const DAYS = 14;

export function mount(root, ctx) {
  const summary = h('div', { class: 'summary', id: 'summary' });
  const traffic = h('section', { class: 'card', id: 'chart-messages' }, h('p', { class: 'muted' }, 'Loading…'));
  const scores = h('section', { class: 'card', id: 'chart-scores' });
  let disposed = false;
  root.appendChild(h('div', { class: 'page' }, h('div', { class: 'pane-head' }, h('h2', {}, 'Dashboard')), summary, h('div', { class: 'charts' }, traffic, scores)));

  const weekday = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'numeric' });
  const long = new Intl.DateTimeFormat(undefined, { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' });
  const dayLabel = (day, full) => {
    const [y, m, d] = day.split('-').map(Number);
    const date = new Date(y, m - 1, d);
    return (full ? long : weekday).format(date);
  };

  async function load() {
    let stats;
    try {
      stats = await api.get(`/api/v1/stats/inbox?days=${DAYS}&tz_offset_minutes=${-new Date().getTimezoneOffset()}`);
    } catch (error) {
      replace(traffic, h('p', { class: 'form-error' }, `Could not load statistics: ${error.message}`));
      return;
    }
    if (disposed) return;
    const inbound = stats.channels.reduce((sum, c) => sum + c.inbound.reduce((a, b) => a + b, 0), 0);
    const outbound = stats.channels.reduce((sum, c) => sum + c.outbound.reduce((a, b) => a + b, 0), 0);
    const leads = stats.score_histogram ? stats.score_histogram.reduce((sum, b) => sum + b.count, 0) : null;
    const hot = stats.score_histogram ? stats.score_histogram.filter((b) => b.from >= 70).reduce((sum, b) => sum + b.count, 0) : null;
    const tile = (label, value, id) => h('div', { class: 'tile' }, h('span', { class: 'tile-value', id }, String(value)), h('span', { class: 'tile-label' }, label));
    replace(
      summary,
      tile(`received, ${DAYS} days`, inbound, 'stat-inbound'),
      tile(`sent, ${DAYS} days`, outbound, 'stat-outbound'),
      leads === null ? null : tile('leads', leads, 'stat-leads'),
      hot === null ? null : tile('hot leads (70+)', hot, 'stat-hot'),
    );
    replace(
      traffic,
      h('h3', {}, `Messages per channel per day (last ${DAYS} days)`),
      stats.channels.length
        ? barChart({
            title: `Messages per channel per day, last ${DAYS} days`,
            labels: stats.days,
            xLabel: dayLabel,
            series: stats.channels.map((channel) => ({
              name: channel.name,
              values: channel.inbound.map((n, i) => n + channel.outbound[i]),
              detail: (i) => `${channel.inbound[i]} in, ${channel.outbound[i]} out`,
            })),
          })
        : h('p', { class: 'muted' }, 'No channels yet.'),
    );
    if (!stats.score_histogram) {
      replace(scores, h('h3', {}, 'Lead scores'), h('p', { class: 'muted' }, 'Lead scores need the leads:read scope.'));
      return;
    }
    replace(
      scores,
      h('h3', {}, 'Lead score distribution'),
      barChart({
        title: 'Number of leads per score range',
        labels: stats.score_histogram.map((bucket) => `${bucket.from}–${bucket.to}`),
        series: [{ name: '', values: stats.score_histogram.map((bucket) => bucket.count) }],
        barWidth: 34,
      }),
    );
  }

  const reload = debounce(load, 1500);
  load();
  return {
    onEvent(kind) {
      if (kind === 'message.new' || kind === 'lead.updated' || kind === 'contact.hidden' || kind === 'lagged') reload();
    },
    unmount() {
      disposed = true;
    },
  };
}
