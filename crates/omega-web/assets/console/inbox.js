// The unified inbox: the conversation list (filters, live updates, unread marks), the open
// conversation (messages with their status, the reply box, assignment) and the lead panel.
import * as api from './api.js';
import { h, replace, shortTime, fullTime, toast, debounce } from './dom.js';
import { t, ht, ta } from './i18n.js';

const FILTER_KEY = 'omega.console.filters';
const STATUS_RANK = { pending: 0, queued: 0, sending: 0, sent: 1, delivered: 2, read: 3, failed: 4 };
const STATUS_LABELS = new Set(['pending', 'sent', 'delivered', 'read', 'failed']);
const KIND_LABEL = { image: 'Image', video: 'Video', audio: 'Audio', voice: 'Voice message', document: 'Document', sticker: 'Sticker', location: 'Location', contact: 'Contact card', reaction: 'Reaction' };
const SENTIMENTS = new Set(['positive', 'neutral', 'negative']);

export function channelBadge(channel, kind) {
  const type = kind || channel?.kind || '';
  const label = type.startsWith('whatsapp') ? 'WhatsApp' : type === 'telegram' ? 'Telegram' : type === 'omega' ? 'Ômega' : type || '?';
  const family = type.startsWith('whatsapp') ? 'whatsapp' : type;
  return h('span', { class: ['channel-badge', `ch-${family}`], title: channel ? `${channel.name} (${type})` : type }, label);
}

export function scoreChip(score) {
  if (score === null || score === undefined) return h('span', { class: 'score none', title: 'Not scored yet' }, '–');
  const tier = score >= 70 ? 'hot' : score >= 40 ? 'warm' : 'cold';
  return h('span', { class: ['score', tier], title: `Lead score ${score}/100` }, String(score));
}

function loadFilters() {
  try {
    return { channel: '', assignee: 'any', min_score: '', ...JSON.parse(sessionStorage.getItem(FILTER_KEY) || '{}') };
  } catch {
    return { channel: '', assignee: 'any', min_score: '' };
  }
}

function normalStatus(status) {
  return status === 'queued' || status === 'sending' ? 'pending' : status || 'pending';
}

export function mount(root, ctx, param) {
  const filters = loadFilters();
  let conversations = [];
  let open = null; // { id, conversation, messages: Map(id → message), lead }
  let channels = new Map();
  let members = new Map();
  let disposed = false;
  let arrivals = 0;

  const listEl = h('ul', { class: 'conv-list', id: 'conversations', ...ta('aria-label', 'inbox.conversations') });
  const countEl = h('span', { class: 'muted count' });
  const channelSelect = h('select', { name: 'channel', id: 'filter-channel' }, ht('option', 'inbox.all_channels', { value: '' }));
  const assigneeSelect = h(
    'select',
    { name: 'assignee', id: 'filter-assignee' },
    ht('option', 'inbox.anyone', { value: 'any' }),
    ht('option', 'inbox.mine', { value: 'me' }),
    ht('option', 'inbox.unassigned', { value: 'none' }),
  );
  assigneeSelect.value = filters.assignee;
  const scoreInput = h('input', { name: 'min_score', id: 'filter-score', type: 'number', min: '0', max: '100', step: '5', placeholder: '0', value: filters.min_score });
  const filterForm = h(
    'form',
    { class: 'filters', id: 'filters' },
    h('label', {}, ht('span', 'inbox.channel', { class: 'label' }), channelSelect),
    h('label', {}, ht('span', 'inbox.assignee', { class: 'label' }), assigneeSelect),
    h('label', {}, ht('span', 'inbox.min_score', { class: 'label' }), scoreInput),
  );
  const paneList = h('section', { class: 'pane list-pane' }, h('div', { class: 'pane-head' }, ht('h2', 'inbox.title'), countEl), filterForm, listEl);
  const paneConversation = h('section', { class: 'pane conversation-pane', id: 'conversation' });
  const paneLead = h('aside', { class: 'pane lead-pane', id: 'lead-panel', 'aria-label': 'Lead' });
  const layout = h('div', { class: 'inbox' }, paneList, paneConversation, paneLead);
  root.appendChild(layout);

  const changed = () => {
    filters.channel = channelSelect.value;
    filters.assignee = assigneeSelect.value;
    const score = scoreInput.value.trim();
    filters.min_score = score === '' ? '' : String(Math.max(0, Math.min(100, Number(score) || 0)));
    sessionStorage.setItem(FILTER_KEY, JSON.stringify(filters));
    loadList();
  };
  channelSelect.addEventListener('change', changed);
  assigneeSelect.addEventListener('change', changed);
  scoreInput.addEventListener('input', debounce(changed, 400));
  filterForm.addEventListener('submit', (event) => {
    event.preventDefault();
    changed();
  });

  // ------------------------------------------------------------ list

  function query() {
    const params = new URLSearchParams();
    if (filters.channel) params.set('channel', filters.channel);
    if (filters.assignee && filters.assignee !== 'any') params.set('assignee', filters.assignee);
    if (filters.min_score !== '') params.set('min_score', filters.min_score);
    const text = params.toString();
    return text ? `?${text}` : '';
  }

  /** Whether a conversation still belongs in the list under the filters. */
  function matches(conversation) {
    if (filters.channel && conversation.channel_id !== filters.channel) return false;
    if (filters.assignee === 'me' && conversation.assignee_id !== ctx.me.member?.id) return false;
    if (filters.assignee === 'none' && conversation.assignee_id) return false;
    if (filters.min_score !== '' && !(conversation.lead_score >= Number(filters.min_score))) return false;
    return true;
  }

  async function loadList() {
    try {
      const list = await api.get(`/api/v1/conversations${query()}`);
      if (disposed) return;
      conversations = list;
      renderList();
    } catch (error) {
      if (!disposed) replace(listEl, h('li', { class: 'empty error' }, t('inbox.load_failed', { error: error.message })));
    }
  }
  const refetchSoon = debounce(loadList, 250);

  function assigneeLabel(id) {
    if (!id) return null;
    if (id === ctx.me.member?.id) return t('conv.you');
    const member = members.get(id);
    return member ? member.display_name || member.email : t('conv.assigned');
  }

  function preview(conversation) {
    if (conversation.last_text) return conversation.last_text;
    if (conversation.last_kind) return `[${KIND_LABEL[conversation.last_kind] || conversation.last_kind}]`;
    return '';
  }

  function item(conversation) {
    const channel = channels.get(conversation.channel_id);
    const unread = ctx.unread.has(conversation.id);
    const selected = open?.id === conversation.id;
    const name = conversation.contact_name || conversation.chat;
    const assignee = assigneeLabel(conversation.assignee_id);
    return h(
      'li',
      { class: ['conv', unread && 'unread', selected && 'selected'], dataset: { id: conversation.id } },
      h(
        'a',
        { href: `#/inbox/${encodeURIComponent(conversation.id)}`, 'aria-current': selected ? 'true' : null },
        h('div', { class: 'conv-top' }, channelBadge(channel), h('span', { class: 'conv-name' }, name), h('time', { class: 'conv-time', datetime: new Date(conversation.last_message_ms).toISOString() }, shortTime(conversation.last_message_ms))),
        h('div', { class: 'conv-address muted' }, conversation.contact_name ? conversation.chat : '', conversation.is_group ? ` · ${t('inbox.group')}` : ''),
        h(
          'div',
          { class: 'conv-bottom' },
          h('span', { class: 'conv-preview' }, conversation.last_direction === 'out' ? '↩ ' : '', preview(conversation)),
          assignee ? h('span', { class: 'assignee-tag', title: t('conv.assigned') }, assignee) : null,
          scoreChip(conversation.lead_score),
        ),
        unread ? h('span', { class: 'unread-dot', 'aria-label': t('inbox.unread') }) : null,
      ),
    );
  }

  function renderList() {
    // Sources stamp messages to the second: between equal times, the latest arrival goes first.
    conversations.sort((a, b) => b.last_message_ms - a.last_message_ms || (b.arrival || 0) - (a.arrival || 0) || (a.id < b.id ? 1 : -1));
    replace(listEl, conversations.length ? conversations.map(item) : h('li', { class: 'empty' }, t('inbox.no_match')));
    countEl.textContent = conversations.length ? `${conversations.length}` : '';
  }

  function upsertInList(conversation) {
    const index = conversations.findIndex((c) => c.id === conversation.id);
    if (!matches(conversation)) {
      if (index >= 0) conversations.splice(index, 1);
    } else if (index >= 0) conversations[index] = conversation;
    else conversations.push(conversation);
    renderList();
  }

  // ------------------------------------------------------------ conversation

  function messageNode(message) {
    const status = normalStatus(message.status);
    const body = message.text ?? `[${KIND_LABEL[message.kind] || message.kind || 'message'}]`;
    return h(
      'div',
      { class: ['msg', message.direction === 'out' ? 'out' : 'in'], dataset: { id: message.id, status } },
      h(
        'div',
        { class: 'bubble' },
        h('p', { class: ['text', message.text == null && 'media'] }, body),
        h(
          'div',
          { class: 'meta' },
          h('time', { title: fullTime(message.sent_at_ms) }, shortTime(message.sent_at_ms)),
          message.direction === 'out' ? h('span', { class: ['status', `st-${status}`], title: message.error || status }, STATUS_LABELS.has(status) ? t(`status.${status}`) : status) : null,
        ),
        message.error ? h('p', { class: 'msg-error' }, message.error) : null,
      ),
    );
  }

  function upsertMessage(message) {
    if (!open) return;
    // A reply's own message.new can overtake the answer to its POST: adopt the pending bubble.
    if (!open.messages.has(message.id) && message.direction === 'out') {
      for (const [id, pending] of open.messages) {
        if (id.startsWith('local-') && pending.text === message.text) {
          open.messages.delete(id);
          open.messages.set(message.id, { ...pending, id: message.id });
          const node = open.list.querySelector(`[data-id="${CSS.escape(id)}"]`);
          if (node) node.dataset.id = message.id;
          break;
        }
      }
    }
    const known = open.messages.get(message.id);
    if (!known && message.direction === undefined) {
      // A status for a message not shown yet (its message.new or POST answer is still coming).
      open.early.set(message.id, message);
      return;
    }
    if (!known && open.early.has(message.id)) {
      const early = open.early.get(message.id);
      open.early.delete(message.id);
      if (STATUS_RANK[normalStatus(early.status)] > STATUS_RANK[normalStatus(message.status)]) message = { ...message, status: early.status, error: early.error };
    }
    if (known) {
      const before = normalStatus(known.status);
      const after = normalStatus(message.status ?? known.status);
      const merged = { ...known, ...message, status: STATUS_RANK[after] >= STATUS_RANK[before] ? after : before };
      if (message.status === undefined) merged.status = known.status;
      open.messages.set(message.id, merged);
      const node = open.list.querySelector(`[data-id="${CSS.escape(message.id)}"]`);
      if (node) node.replaceWith(messageNode(merged));
      return;
    }
    open.messages.set(message.id, message);
    const stick = open.list.scrollHeight - open.list.scrollTop - open.list.clientHeight < 80;
    open.list.appendChild(messageNode(message));
    if (stick || message.direction === 'out') open.list.scrollTop = open.list.scrollHeight;
  }

  function conversationHeader(conversation) {
    const channel = channels.get(conversation.channel_id);
    const mine = conversation.assignee_id && conversation.assignee_id === ctx.me.member?.id;
    const assignee = assigneeLabel(conversation.assignee_id);
    const canWrite = ctx.can('inbox:write') && ctx.me.kind === 'member';
    const assignButton = canWrite
      ? h('button', { class: mine ? 'ghost' : 'primary small', id: 'assign', on: { click: () => assign(mine ? null : 'me') } }, t(mine ? 'conv.unassign' : 'conv.assign_me'))
      : null;
    return h(
      'header',
      { class: 'conv-header' },
      h('a', { class: 'back', href: '#/inbox', title: t('conv.back') }, '←'),
      h('div', { class: 'conv-who' }, h('h2', { id: 'conv-title' }, conversation.contact_name || conversation.chat), h('div', { class: 'muted' }, channelBadge(channel), ' ', conversation.chat)),
      h('div', { class: 'assignment' }, h('span', { class: 'muted', id: 'assignee' }, assignee ? t('conv.assigned_to', { name: assignee }) : t('conv.unassigned')), assignButton),
    );
  }

  async function assign(memberId) {
    try {
      const view = await api.put(`/api/v1/conversations/${encodeURIComponent(open.id)}/assignee`, { member_id: memberId });
      applyAssignment(view.id, view.assignee_id);
    } catch (error) {
      toast(t('conv.assign_failed', { error: error.message }), 'error');
    }
  }

  function applyAssignment(id, assigneeId) {
    const inList = conversations.find((c) => c.id === id);
    if (inList) upsertInList({ ...inList, assignee_id: assigneeId });
    else if (matches({ ...(open?.conversation || {}), assignee_id: assigneeId })) refetchSoon();
    if (open?.id === id) {
      open.conversation = { ...open.conversation, assignee_id: assigneeId };
      open.header.replaceWith((open.header = conversationHeader(open.conversation)));
    }
  }

  function replyForm() {
    const text = h('textarea', { id: 'reply-text', name: 'text', rows: '2', maxlength: '4096', ...ta('placeholder', 'reply.placeholder'), ...ta('aria-label', 'reply.label') });
    const send = ht('button', 'reply.send', { type: 'submit', class: 'primary', id: 'reply-send' });
    const form = h('form', { class: 'reply', id: 'reply' }, text, send);
    text.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const value = text.value.trim();
      if (!value) return;
      text.value = '';
      sendReply(value);
      text.focus();
    });
    return form;
  }

  /** Sends one reply with its own Idempotency-Key; a network failure retries with the same key. */
  async function sendReply(value) {
    const conversationId = open.id;
    const key = crypto.randomUUID();
    const localId = `local-${key}`;
    upsertMessage({ id: localId, direction: 'out', kind: 'text', text: value, status: 'pending', sent_at_ms: Date.now() });
    let answer = null;
    let failure = null;
    for (let attempt = 0; attempt < 4 && !answer; attempt++) {
      try {
        answer = await api.call('POST', `/api/v1/conversations/${encodeURIComponent(conversationId)}/messages`, {
          body: { text: value },
          headers: { 'Idempotency-Key': key },
        });
      } catch (error) {
        failure = error;
        if (error instanceof api.ApiError) break; // the hub answered: retrying changes nothing
        await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** attempt));
      }
    }
    if (!open || open.id !== conversationId) return;
    const local = open.list.querySelector(`[data-id="${CSS.escape(localId)}"]`);
    const pending = open.messages.get(localId);
    open.messages.delete(localId);
    if (!answer) {
      const failed = { ...pending, status: 'failed', error: failure?.message || 'not sent' };
      open.messages.set(localId, failed);
      local?.replaceWith(messageNode(failed));
      return;
    }
    const status = answer.state === 'failed' ? 'failed' : normalStatus(answer.state);
    if (local) {
      local.remove();
      upsertMessage({ ...pending, id: answer.message_id, status, error: answer.last_error || undefined });
    } else {
      // Already adopted by its message.new: only the status may be news.
      upsertMessage({ id: answer.message_id, direction: 'out', status, error: answer.last_error || undefined });
    }
  }

  async function openConversation(id) {
    ctx.openConversation = id;
    ctx.markUnread(id, false);
    layout.dataset.open = 'true';
    const list = h('div', { class: 'messages', id: 'messages', 'aria-live': 'polite' });
    open = { id, conversation: null, messages: new Map(), early: new Map(), list, header: h('header', { class: 'conv-header' }) };
    replace(paneConversation, open.header, list, ctx.can('inbox:write') ? replyForm() : ht('p', 'reply.read_only', { class: 'muted' }));
    replace(paneLead, ht('p', 'lead.loading', { class: 'muted' }));
    renderList();
    try {
      const [conversation, messages] = await Promise.all([
        api.get(`/api/v1/conversations/${encodeURIComponent(id)}`),
        api.get(`/api/v1/conversations/${encodeURIComponent(id)}/messages`),
      ]);
      if (disposed || open?.id !== id) return;
      open.conversation = conversation;
      open.header.replaceWith((open.header = conversationHeader(conversation)));
      for (const message of messages) upsertMessage(message);
      list.scrollTop = list.scrollHeight;
      loadLead(conversation.contact_id);
    } catch (error) {
      if (disposed || open?.id !== id) return;
      replace(paneConversation, h('p', { class: 'empty error' }, error.status === 404 ? t('conv.gone') : t('conv.open_failed', { error: error.message })));
      replace(paneLead);
    }
  }

  function closeConversation() {
    open = null;
    ctx.openConversation = null;
    layout.dataset.open = 'false';
    replace(paneConversation, h('div', { class: 'empty big' }, ht('p', 'inbox.pick'), ht('p', 'inbox.pick_hint', { class: 'muted' })));
    replace(paneLead, ht('p', 'inbox.lead_hint', { class: 'muted' }));
    renderList();
  }

  // ------------------------------------------------------------ lead panel

  async function loadLead(contactId) {
    if (!ctx.can('leads:read')) {
      replace(paneLead, ht('p', 'lead.needs_scope', { class: 'muted' }));
      return;
    }
    try {
      const lead = await api.get(`/api/v1/contacts/${encodeURIComponent(contactId)}/lead`);
      if (open?.conversation?.contact_id === contactId) renderLead(lead);
    } catch (error) {
      if (open?.conversation?.contact_id !== contactId) return;
      replace(paneLead, ht('h3', 'lead.title'), error.status === 404 ? ht('p', 'lead.not_scored', { class: 'muted' }) : h('p', { class: 'muted' }, error.message));
    }
  }

  function renderLead(lead) {
    const pt = ctx.lang === 'pt';
    const label = (item) => (pt ? item.pt : item.en) || item.code;
    const other = (item) => (pt ? item.en : item.pt) || '';
    const sentiment = SENTIMENTS.has(lead.sentiment) ? t(`lead.${lead.sentiment}`) : lead.sentiment;
    const tier = lead.score >= 70 ? 'hot' : lead.score >= 40 ? 'warm' : 'cold';
    replace(
      paneLead,
      ht('h3', 'lead.title'),
      h(
        'div',
        { class: ['lead-score', tier] },
        h('span', { class: 'big', id: 'lead-score' }, String(lead.score)),
        h('span', { class: 'muted' }, '/100'),
        h('meter', { min: '0', max: '100', low: '40', high: '70', optimum: '100', value: String(lead.score) }),
      ),
      h('dl', { class: 'lead-facts' }, ht('dt', 'lead.sentiment'), h('dd', {}, sentiment), ht('dt', 'lead.messages'), h('dd', {}, String(lead.messages)), ht('dt', 'lead.updated'), h('dd', {}, fullTime(lead.updated_ms))),
      ht('h4', 'lead.next_action'),
      h('p', { class: 'next-action', id: 'lead-next', title: other(lead.next_action) }, label(lead.next_action)),
      ht('h4', 'lead.reasons'),
      lead.reasons?.length
        ? h(
            'ul',
            { class: 'reasons', id: 'lead-reasons' },
            lead.reasons.map((reason) => h('li', { title: other(reason) }, h('span', { class: ['delta', reason.delta >= 0 ? 'up' : 'down'] }, reason.delta >= 0 ? `+${reason.delta}` : String(reason.delta)), ' ', label(reason))),
          )
        : ht('p', 'lead.no_reasons', { class: 'muted' }),
    );
  }

  // ------------------------------------------------------------ realtime

  function onEvent(kind, data) {
    if (kind === 'lagged') {
      loadList();
      if (open) openConversation(open.id);
      return;
    }
    if (!data) return;
    if (kind === 'message.new') {
      const conversation = conversations.find((c) => c.id === data.conversation_id);
      if (conversation) {
        upsertInList({
          ...conversation,
          last_text: data.text ?? null,
          last_kind: data.kind,
          last_direction: data.direction,
          last_status: data.status,
          last_message_ms: Math.max(conversation.last_message_ms, data.sent_at_ms || Date.now()),
          arrival: ++arrivals,
        });
      } else refetchSoon();
      if (open?.id === data.conversation_id) {
        upsertMessage({ id: data.id, direction: data.direction, kind: data.kind, text: data.text, status: data.status || 'pending', sent_at_ms: data.sent_at_ms || Date.now() });
        ctx.markUnread(data.conversation_id, false);
      }
    } else if (kind === 'message.status') {
      if (open?.id === data.conversation_id) upsertMessage({ id: data.id, status: data.status, error: data.error });
      const conversation = conversations.find((c) => c.id === data.conversation_id);
      if (conversation && conversation.last_direction === 'out') {
        conversation.last_status = data.status;
      }
    } else if (kind === 'lead.updated') {
      for (const conversation of conversations.filter((c) => c.contact_id === data.contact_id)) {
        upsertInList({ ...conversation, lead_score: data.score });
      }
      if (!conversations.some((c) => c.contact_id === data.contact_id) && filters.min_score !== '' && data.score >= Number(filters.min_score)) refetchSoon();
      if (open?.conversation?.contact_id === data.contact_id) loadLead(data.contact_id);
    } else if (kind === 'conversation.assigned') {
      applyAssignment(data.conversation_id, data.assignee_id);
    } else if (kind === 'contact.hidden') {
      loadList();
      if (open) openConversation(open.id);
    }
  }

  // ------------------------------------------------------------ start

  function update(nextParam) {
    if (nextParam) openConversation(nextParam);
    else closeConversation();
  }

  (async () => {
    try {
      [channels, members] = await Promise.all([ctx.channels(), ctx.members().catch(() => new Map())]);
    } catch (error) {
      toast(`Could not load channels: ${error.message}`, 'error');
    }
    if (disposed) return;
    for (const channel of channels.values()) {
      channelSelect.appendChild(h('option', { value: channel.id, selected: channel.id === filters.channel }, channel.name));
    }
    await loadList();
    update(param);
  })();

  return {
    onEvent,
    update,
    unmount() {
      disposed = true;
      ctx.openConversation = null;
    },
  };
}
