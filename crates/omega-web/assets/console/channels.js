// Channels: the list, connecting a new one (its webhook token is shown once), the credentials
// the hub calls the source with (write-only: never shown back), the WhatsApp session with its
// QR code as an image, and the diagnostic log.
import * as api from './api.js';
import { h, replace, fullTime, toast, debounce, field } from './dom.js';
import { channelBadge } from './inbox.js';

const KINDS = [
  ['whatsapp-wppconnect', 'WhatsApp (WPPConnect)'],
  ['whatsapp-evolution', 'WhatsApp (Evolution API)'],
  ['whatsapp-cloud', 'WhatsApp Cloud API'],
  ['telegram', 'Telegram bot'],
  ['omega', 'Ômega (end-to-end encrypted)'],
];

/** The credentials form of each channel kind: [field, label, secret?, hint]. */
const CREDENTIALS = {
  'whatsapp-wppconnect': ['wpp_connect', [['base_url', 'Server URL', false, 'The WPPConnect server, with http or https and its port.'], ['session', 'Session name', false], ['token', 'Bearer token', true, 'From generate-token.']]],
  'whatsapp-evolution': ['evolution', [['base_url', 'Server URL', false, 'The Evolution API server, with http or https.'], ['instance', 'Instance', false], ['apikey', 'API key', true]]],
  'whatsapp-cloud': ['cloud_api', [['base_url', 'Graph API URL', false, 'graph.facebook.com with its version, over https.'], ['phone_number_id', 'Phone number id', false], ['access_token', 'Access token', true]]],
  telegram: ['telegram', [['base_url', 'Bot API URL', false, 'api.telegram.org, over https.'], ['bot_token', 'Bot token', true]]],
};

const SESSION_LABEL = {
  none: 'No session (set the credentials first)',
  starting: 'Starting…',
  qr: 'Waiting for a QR scan',
  connected: 'Connected',
  not_logged: 'Logged out',
  reconnecting: 'Reconnecting…',
  resetting: 'Resetting the instance…',
};

export function mount(root, ctx, param) {
  const admin = ctx.can('channels:write');
  let channels = [];
  let selected = null;
  let disposed = false;
  let qrUrl = null;

  const listEl = h('ul', { class: 'channel-list', id: 'channel-list' });
  const detail = h('section', { class: 'pane channel-detail', id: 'channel-detail' });
  const left = h('section', { class: 'pane' }, h('div', { class: 'pane-head' }, h('h2', {}, 'Channels')), listEl, admin ? createForm() : null);
  root.appendChild(h('div', { class: 'two-col' }, left, detail));

  async function load() {
    try {
      channels = [...(await ctx.channels(true)).values()];
    } catch (error) {
      replace(listEl, h('li', { class: 'empty error' }, error.message));
      return;
    }
    if (disposed) return;
    replace(
      listEl,
      channels.length
        ? channels.map((channel) =>
            h('li', { class: selected === channel.id && 'selected', dataset: { id: channel.id } }, h('a', { href: `#/channels/${encodeURIComponent(channel.id)}` }, channelBadge(channel), ' ', h('span', { class: 'name' }, channel.name), h('small', { class: 'muted' }, fullTime(channel.created_ms)))),
          )
        : h('li', { class: 'empty' }, 'No channels yet.'),
    );
  }

  function createForm() {
    const secret = h('input', { name: 'app_secret', type: 'password', autocomplete: 'new-password' });
    const secretField = field('App secret', secret, 'The Cloud API app secret that signs webhooks.');
    secretField.hidden = true;
    const kind = h('select', { name: 'kind', id: 'new-channel-kind' }, KINDS.map(([value, label]) => h('option', { value }, label)));
    kind.addEventListener('change', () => {
      secretField.hidden = kind.value !== 'whatsapp-cloud';
    });
    const result = h('div', { class: 'once', hidden: true, id: 'new-channel-result' });
    const form = h(
      'form',
      { class: 'card stack', id: 'new-channel' },
      h('h3', {}, 'Connect a channel'),
      field('Kind', kind),
      field('Name', h('input', { name: 'name', id: 'new-channel-name', required: true, maxlength: '100', placeholder: 'Vendas' })),
      secretField,
      h('button', { type: 'submit', class: 'primary' }, 'Connect'),
      result,
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      const body = { kind: data.get('kind'), name: String(data.get('name')).trim() };
      if (body.kind === 'whatsapp-cloud') body.app_secret = String(data.get('app_secret'));
      try {
        const created = await api.post('/api/v1/channels', body);
        form.reset();
        secretField.hidden = true;
        const url = location.origin + created.webhook_path;
        const header = created.kind === 'telegram' ? 'X-Telegram-Bot-Api-Secret-Token' : created.kind === 'whatsapp-cloud' ? 'hub.verify_token' : 'X-Omega-Webhook-Token';
        replace(
          result,
          h('p', {}, h('strong', {}, 'Copy these now: the token is not shown again.')),
          h('dl', {}, h('dt', {}, 'Webhook URL'), h('dd', {}, h('code', {}, url)), h('dt', {}, header), h('dd', {}, h('code', { id: 'new-channel-token' }, created.webhook_token)), created.omega_card ? [h('dt', {}, 'Ômega card'), h('dd', {}, h('code', {}, created.omega_card))] : null),
        );
        result.hidden = false;
        await load();
        location.hash = `#/channels/${encodeURIComponent(created.id)}`;
      } catch (error) {
        toast(`Could not connect the channel: ${error.message}`, 'error');
      }
    });
    return form;
  }

  // ------------------------------------------------------------ one channel

  let sessionBox = null;
  let diagBody = null;

  async function show(id) {
    selected = id;
    for (const node of listEl.querySelectorAll('li[data-id]')) node.classList.toggle('selected', node.dataset.id === id);
    const channel = channels.find((c) => c.id === id);
    if (!channel) {
      replace(detail, h('div', { class: 'empty big' }, h('p', {}, id ? 'No such channel.' : 'Pick a channel, or connect one.')));
      return;
    }
    sessionBox = h('div', { class: 'session', id: 'session' });
    diagBody = h('tbody');
    replace(
      detail,
      h('header', { class: 'pane-head' }, h('h2', {}, channel.name), channelBadge(channel)),
      h('dl', { class: 'facts' }, h('dt', {}, 'Channel id'), h('dd', {}, h('code', {}, channel.id)), h('dt', {}, 'Webhook URL'), h('dd', {}, h('code', {}, location.origin + channel.webhook_path)), h('dt', {}, 'Connected'), h('dd', {}, fullTime(channel.created_ms))),
      admin && CREDENTIALS[channel.kind] ? credentialsForm(channel) : null,
      admin && (channel.kind === 'whatsapp-wppconnect' || channel.kind === 'whatsapp-evolution') ? h('section', {}, h('h3', {}, 'WhatsApp session'), sessionBox) : null,
      admin
        ? h(
            'section',
            {},
            h('div', { class: 'row' }, h('h3', {}, 'Diagnostic log'), h('button', { class: 'ghost small', on: { click: () => loadDiagnostics() } }, 'Refresh')),
            h('div', { class: 'table-wrap' }, h('table', { class: 'diagnostics', id: 'diagnostics' }, h('thead', {}, h('tr', {}, h('th', {}, 'When'), h('th', {}, 'Kind'), h('th', {}, 'Request'), h('th', {}, 'Outcome'), h('th', { class: 'num' }, 'ms'))), diagBody)),
          )
        : h('p', { class: 'muted' }, 'Setting up channels needs the channels:write scope.'),
    );
    if (admin) {
      if (channel.kind === 'whatsapp-wppconnect' || channel.kind === 'whatsapp-evolution') loadSession();
      loadDiagnostics();
    }
  }

  function credentialsForm(channel) {
    const [kind, fields] = CREDENTIALS[channel.kind];
    const status = h('p', { class: 'muted', id: 'credentials-status' }, 'Secrets are write-only: once saved, the hub never shows them again.');
    const form = h(
      'form',
      { class: 'card stack', id: 'credentials' },
      h('h3', {}, 'Credentials'),
      fields.map(([name, label, secret, hint]) =>
        field(label, h('input', { name, id: `cred-${name}`, required: true, type: secret ? 'password' : 'text', autocomplete: secret ? 'new-password' : 'off', spellcheck: 'false' }), hint),
      ),
      status,
      h('button', { type: 'submit', class: 'primary' }, 'Save credentials'),
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const body = { kind };
      for (const [name] of fields) body[name] = String(new FormData(form).get(name)).trim();
      try {
        await api.put(`/api/v1/channels/${encodeURIComponent(channel.id)}/credentials`, body);
        form.reset();
        status.textContent = `Saved at ${new Date().toLocaleTimeString()}. Secrets are write-only: the hub never shows them again.`;
        status.className = 'ok';
        loadSession();
        loadDiagnostics();
      } catch (error) {
        status.textContent = `Not saved: ${error.message}`;
        status.className = 'form-error';
      }
    });
    return form;
  }

  async function loadSession() {
    if (!sessionBox || !selected) return;
    const id = selected;
    let session;
    try {
      session = await api.get(`/api/v1/channels/${encodeURIComponent(id)}/session`);
    } catch (error) {
      replace(sessionBox, h('p', { class: 'form-error' }, error.message));
      return;
    }
    if (disposed || selected !== id) return;
    renderSession(session);
  }

  async function renderSession(session) {
    const id = selected;
    const qr = h('div', { class: 'qr' });
    replace(
      sessionBox,
      h('p', {}, h('span', { class: ['state', `state-${session.state}`], id: 'session-state', dataset: { state: session.state } }, SESSION_LABEL[session.state] || session.state), session.reconnects ? h('span', { class: 'muted' }, ` · ${session.reconnects} reconnect(s)`) : null),
      session.next_check_ms ? h('p', { class: 'muted' }, `Next check ${fullTime(session.next_check_ms)}`) : null,
      qr,
      h('button', { class: 'ghost small', on: { click: () => loadSession() } }, 'Refresh'),
    );
    if (session.state !== 'qr') return;
    try {
      const response = await api.call('GET', `/api/v1/channels/${encodeURIComponent(id)}/session/qr`, { raw: true });
      const blob = await response.blob();
      if (disposed || selected !== id) return;
      if (qrUrl) URL.revokeObjectURL(qrUrl);
      qrUrl = URL.createObjectURL(blob);
      replace(qr, h('img', { src: qrUrl, id: 'qr-image', alt: 'QR code: scan it with WhatsApp on the business phone (Linked devices)', width: '240', height: '240' }), h('p', { class: 'muted' }, 'On the phone: WhatsApp › Linked devices › Link a device.'));
    } catch (error) {
      replace(qr, h('p', { class: 'form-error' }, `QR code unavailable: ${error.message}`));
    }
  }

  async function loadDiagnostics() {
    if (!diagBody || !selected) return;
    const id = selected;
    try {
      const lines = await api.get(`/api/v1/channels/${encodeURIComponent(id)}/diagnostics`);
      if (disposed || selected !== id) return;
      replace(
        diagBody,
        lines.length
          ? lines.map((line) => h('tr', { class: `diag-${line.kind}` }, h('td', { class: 'nowrap' }, fullTime(line.at_ms)), h('td', {}, line.kind), h('td', { class: 'mono' }, line.request), h('td', {}, line.outcome), h('td', { class: 'num' }, String(line.latency_ms))))
          : h('tr', {}, h('td', { colspan: '5', class: 'empty' }, 'Nothing logged yet.')),
      );
    } catch (error) {
      replace(diagBody, h('tr', {}, h('td', { colspan: '5', class: 'form-error' }, error.message)));
    }
  }
  const diagnosticsSoon = debounce(loadDiagnostics, 500);

  function onEvent(kind, data) {
    if (!data || !selected) return;
    if (kind === 'channel.session' && data.channel_id === selected) {
      renderSession({ channel_id: data.channel_id, state: data.state, qr: data.qr, reconnects: data.reconnects });
      diagnosticsSoon();
    } else if ((kind === 'message.status' || kind === 'message.new') && (data.channel_id === selected || kind === 'message.status')) {
      diagnosticsSoon();
    }
  }

  (async () => {
    await load();
    if (!disposed) show(param);
  })();

  return {
    onEvent,
    update(next) {
      show(next);
    },
    unmount() {
      disposed = true;
      if (qrUrl) URL.revokeObjectURL(qrUrl);
    },
  };
}
