// Ômega web chat: a plain ES module, no framework, no build step. It talks to the node's local
// API on this same origin, authenticated by the HttpOnly session cookie that `omega open` set up,
// and sends the session's CSRF token with every request that changes something.
//
// Rule: text that comes from the network (messages, names, cards) enters the page only through
// textContent or text nodes, never as HTML.

const TICKS = {
  queued: ['◷', 'queued'],
  sent: ['✓', 'sent'],
  delivered: ['✓✓', 'delivered'],
  read: ['✓✓', 'read'],
  failed: ['!', 'failed: it will not be retried'],
};
const RANK = { queued: 0, failed: 1, sent: 2, delivered: 3, read: 4 };
const THEME_KEY = 'omega-theme';
const MESSAGE_LIMIT = 500;
/** How often a camera frame is sent to be searched for a QR code. */
const SCAN_EVERY_MS = 700;
/** What the node reads as it is (larger pictures, or other kinds, are redrawn as a PNG first). */
const SCAN_MAX_BYTES = 8 * 1024 * 1024;
const SCAN_MAX_SIDE = 2000;
const SCAN_ERRORS = {
  no_qr_code: 'No QR code found in that image.',
  not_a_card: 'That QR code is not an Ômega card.',
  own_card: 'That QR code is your own card.',
  invalid_image: 'That file is not a picture the node can read.',
  image_too_large: 'That picture is too large.',
};

const state = {
  csrf: null,
  me: null, // { user_id, name }
  conversations: [], // from GET /v1/conversations
  groups: [], // from GET /v1/groups
  current: null, // user id of the open conversation
  messages: new Map(), // user id -> [Message], oldest first
  events: null,
  retryMs: 1000,
};

const $ = (id) => document.getElementById(id);

// ---- small helpers -----------------------------------------------------------------------------

/** Creates an element; string children become text nodes (never parsed as HTML). */
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') node.className = value;
    else if (name === 'text') node.textContent = value;
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child !== undefined && child !== null && child !== false) node.append(child);
  }
  return node;
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Calls the API; `body` is sent as JSON, or as it is when it is a Blob (a picture). */
async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  const raw = body instanceof Blob;
  if (method !== 'GET') {
    headers['Content-Type'] = raw ? body.type : 'application/json';
    if (state.csrf) headers['X-CSRF-Token'] = state.csrf;
  }
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined || raw ? body : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch (error) {
    throw new ApiError(0, 'network', 'The node does not answer (is `omega node` still running?)');
  }
  let data = null;
  try {
    data = await response.json();
  } catch {}
  if (!response.ok) {
    const error = new ApiError(
      response.status,
      data?.error?.code ?? 'http',
      data?.error?.message ?? `request failed (${response.status})`,
    );
    if (response.status === 401) showLoginNeeded();
    throw error;
  }
  return data;
}

const path = (name) => encodeURIComponent(name);

function formatTime(ms) {
  if (!ms) return '';
  const date = new Date(ms);
  const now = new Date();
  const sameDay = date.toDateString() === now.toDateString();
  return sameDay
    ? date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : date.toLocaleDateString([], { day: 'numeric', month: 'short' });
}

function peerOf(message) {
  if (message.group) return message.group;
  return message.direction === 'in' ? message.from : message.to;
}

/** The group with this id, if the open or named conversation is a group. */
function groupOf(id) {
  return state.groups.find((group) => group.group_id === id);
}

function initial(name) {
  return ([...(name || '?').trim()][0] || '?').toUpperCase();
}

function showError(node, error) {
  node.textContent = error ? error.message || String(error) : '';
  node.hidden = !error;
}

// ---- screens -----------------------------------------------------------------------------------

function showLoginNeeded() {
  $('loading').hidden = true;
  $('app').hidden = true;
  $('login-needed').hidden = false;
  for (const dialog of document.querySelectorAll('dialog[open]')) dialog.close();
  if (state.events) {
    state.events.close();
    state.events = null;
  }
}

function showApp() {
  $('loading').hidden = true;
  $('login-needed').hidden = true;
  $('app').hidden = false;
}

// ---- theme -------------------------------------------------------------------------------------

function applyTheme() {
  const stored = localStorage.getItem(THEME_KEY);
  if (stored === 'dark' || stored === 'light') document.documentElement.dataset.theme = stored;
  else delete document.documentElement.dataset.theme;
}

function effectiveTheme() {
  const forced = document.documentElement.dataset.theme;
  if (forced) return forced;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

function toggleTheme() {
  localStorage.setItem(THEME_KEY, effectiveTheme() === 'dark' ? 'light' : 'dark');
  applyTheme();
}

// ---- conversation list -------------------------------------------------------------------------

async function loadConversations() {
  const [conversations, groups] = await Promise.all([api('GET', '/v1/conversations'), api('GET', '/v1/groups')]);
  state.conversations = conversations;
  state.groups = groups.filter((group) => group.members.some((member) => member.user_id === state.me?.user_id));
  renderConversations();
  renderChatHeader();
}

let conversationsTimer = null;
/** Reloads the list soon (many events in a burst cause one request). */
function refreshConversationsSoon() {
  clearTimeout(conversationsTimer);
  conversationsTimer = setTimeout(() => loadConversations().catch(() => {}), 150);
}

function renderConversations() {
  const list = $('conversations');
  const items = state.conversations.map((conversation) => {
    const preview = el('span', { class: 'preview' });
    if (conversation.last_text === null || conversation.last_text === undefined) {
      preview.textContent = 'No messages yet';
      preview.classList.add('muted');
    } else {
      if (conversation.last_direction === 'out') {
        preview.append(tick(conversation.last_status), ' ');
      }
      preview.append(document.createTextNode(conversation.last_text.split('\n')[0]));
    }
    const unread =
      conversation.unread > 0
        ? el('span', {
            class: 'unread',
            text: conversation.unread > 99 ? '99+' : String(conversation.unread),
            'aria-label': `${conversation.unread} unread`,
          })
        : null;
    const button = el(
      'button',
      {
        type: 'button',
        class: 'conversation',
        'aria-current': conversation.user_id === state.current ? 'true' : null,
      },
      el('span', { class: 'avatar', 'aria-hidden': 'true', text: initial(conversation.peer) }),
      el(
        'span',
        { class: 'conversation-main' },
        el(
          'span',
          { class: 'conversation-top' },
          el('span', { class: 'name', text: conversation.peer }),
          conversation.verified ? el('span', { class: 'verified-mark', title: 'verified', text: '✔' }) : null,
          el('span', { class: 'time', text: formatTime(conversation.last_timestamp) }),
        ),
        el('span', { class: 'conversation-bottom' }, preview, unread),
      ),
    );
    button.addEventListener('click', () => openConversation(conversation.user_id));
    return el('li', { 'data-user-id': conversation.user_id }, button);
  });
  const groups = state.groups.map((group) => {
    const button = el(
      'button',
      { type: 'button', class: 'conversation group', 'aria-current': group.group_id === state.current ? 'true' : null },
      el('span', { class: 'avatar group-avatar', 'aria-hidden': 'true', text: initial(group.name) }),
      el(
        'span',
        { class: 'conversation-main' },
        el('span', { class: 'conversation-top' }, el('span', { class: 'name', text: group.name })),
        el('span', { class: 'conversation-bottom' }, el('span', { class: 'preview muted', text: `group · ${group.members.length} members` })),
      ),
    );
    button.addEventListener('click', () => openConversation(group.group_id));
    return el('li', { 'data-group-id': group.group_id }, button);
  });
  list.replaceChildren(...groups, ...items);
  $('no-contacts').hidden = state.conversations.length > 0 || state.groups.length > 0;
}

function conversation(userId) {
  return state.conversations.find((c) => c.user_id === userId);
}

// ---- chat view ---------------------------------------------------------------------------------

function tick(status) {
  const [symbol, label] = TICKS[status] ?? ['', status];
  return el('span', { class: 'tick', 'data-status': status, title: label, 'aria-label': label, text: symbol });
}

async function openConversation(userId) {
  state.current = userId;
  document.body.classList.add('chat-open');
  $('chat-empty').hidden = true;
  $('chat-view').hidden = false;
  showError($('send-error'), null);
  // Events that arrive while the history loads are kept here and merged in.
  if (!state.messages.has(userId)) state.messages.set(userId, []);
  renderConversations();
  renderChatHeader();
  renderMessages(true);
  try {
    await loadMessages(userId);
    if (state.current !== userId) return;
    renderMessages(true);
    await markReadIfVisible();
  } catch (error) {
    showError($('send-error'), error);
  }
  if (matchMedia('(min-width: 701px)').matches) $('composer-text').focus();
}

/** Fetches a conversation's history and merges it with what events already brought. */
async function loadMessages(userId) {
  const fetched = groupOf(userId)
    ? await api('GET', `/v1/groups/${path(userId)}/messages?limit=${MESSAGE_LIMIT}`)
    : await api('GET', `/v1/messages?with=${path(userId)}&limit=${MESSAGE_LIMIT}`);
  const known = state.messages.get(userId) ?? [];
  const key = (message) => `${message.direction}:${message.message_id}`;
  const byKey = new Map(known.map((message) => [key(message), message]));
  const merged = fetched.map((message) => {
    const seen = byKey.get(key(message));
    byKey.delete(key(message));
    // A status event may have overtaken the history request; statuses only move forward.
    return seen && (RANK[seen.status] ?? 0) > (RANK[message.status] ?? 0) ? seen : message;
  });
  merged.push(...byKey.values());
  state.messages.set(userId, merged);
}

function closeConversation() {
  state.current = null;
  document.body.classList.remove('chat-open');
  $('chat-view').hidden = true;
  $('chat-empty').hidden = false;
  renderConversations();
}

function renderChatHeader() {
  if (!state.current) return;
  const group = groupOf(state.current);
  $('show-safety').hidden = Boolean(group);
  $('attach').hidden = Boolean(group);
  if (group) {
    $('peer-name').textContent = group.name;
    $('peer-id').textContent = `${group.members.length} members`;
    $('peer-verified').hidden = true;
    return;
  }
  const current = conversation(state.current);
  $('peer-name').textContent = current ? current.peer : state.current;
  $('peer-id').textContent = current && current.peer !== current.name ? current.name : '';
  $('peer-verified').hidden = !current?.verified;
}

/** Reactions counted per emoji, in first-seen order: [['🎉', 2], …]. */
function countReactions(reactions) {
  const counted = new Map();
  for (const reaction of reactions ?? []) counted.set(reaction.emoji, (counted.get(reaction.emoji) ?? 0) + 1);
  return [...counted.entries()];
}

function messageItem(message) {
  const footer = el('span', { class: 'meta' });
  if (message.edited_at && !message.deleted) footer.append(el('span', { class: 'edited', text: 'edited' }), ' ');
  if (message.expires_at) footer.append(el('span', { class: 'expires', title: 'disappears', text: '⏱' }), ' ');
  footer.append(el('time', { text: formatTime(message.timestamp) }));
  if (message.direction === 'out') footer.append(tick(message.status));
  const text = el('p', { class: 'text' });
  if (message.deleted) {
    text.textContent = 'This message was deleted';
    text.classList.add('deleted');
  } else {
    text.textContent = message.text;
  }
  const parts = [];
  if (message.group && message.direction === 'in') {
    parts.push(el('p', { class: 'author', text: message.peer || message.from.slice(0, 12) }));
  }
  if (message.reply_to && !message.deleted) {
    const quoted = (state.messages.get(peerOf(message)) ?? []).find((m) => m.message_id === message.reply_to);
    parts.push(el('p', { class: 'quote', text: quoted ? (quoted.deleted ? 'deleted message' : quoted.text) : 'earlier message' }));
  }
  // A file's card says all its text says.
  if (!(message.kind === 'file' && message.file && !message.deleted)) parts.push(text);
  if (message.kind === 'location' && message.location && !message.deleted) {
    const { latitude, longitude } = message.location;
    parts.push(el('p', { class: 'detail mono', text: `${Number(latitude).toFixed(5)}, ${Number(longitude).toFixed(5)}` }));
  }
  if (message.kind === 'file' && message.file && !message.deleted) {
    parts.push(fileCard(message));
  }
  if (message.kind === 'contact' && message.contact && !message.deleted) {
    parts.push(el('p', { class: 'detail mono', text: String(message.contact.user_id ?? '') }));
  }
  parts.push(footer);
  const counted = countReactions(message.reactions);
  if (counted.length) {
    parts.push(
      el('span', { class: 'reactions' }, ...counted.map(([emoji, count]) => el('span', { class: 'reaction', text: `${emoji} ${count}` }))),
    );
  }
  return el(
    'li',
    {
      class: `message ${message.direction}${message.kind === 'timer' ? ' system' : ''}`,
      'data-message-id': message.message_id,
      'data-status': message.status,
      'data-kind': message.kind ?? 'text',
    },
    el('div', { class: 'bubble' }, ...parts),
  );
}

function humanSize(bytes) {
  const units = ['B', 'KB', 'MB', 'GB'];
  let size = Number(bytes) || 0;
  let unit = 0;
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024;
    unit += 1;
  }
  return `${unit ? size.toFixed(1) : size} ${units[unit]}`;
}

/** A file message: its name and size, and for a received one, fetching and saving it. */
function fileCard(message) {
  const file = message.file;
  const card = el(
    'div',
    { class: 'file-card', 'data-file-state': file.state ?? '' },
    el('span', { class: 'file-icon', 'aria-hidden': 'true', text: '📎' }),
    el('span', { class: 'file-name', text: String(file.name ?? 'file') }),
    el('span', { class: 'file-size muted', text: humanSize(file.size) }),
  );
  if (message.direction !== 'in') return card;
  if (file.state === 'done') {
    card.append(
      el('a', {
        class: 'file-save',
        href: `/v1/files/${path(message.message_id)}/content`,
        download: String(file.name ?? 'file'),
        text: 'Save',
      }),
    );
  } else if (file.state === 'fetching') {
    card.append(el('span', { class: 'file-status muted', text: 'Fetching…' }));
  } else {
    if (file.state === 'failed' && file.error) {
      card.append(el('span', { class: 'file-status error', text: String(file.error) }));
    }
    const fetchButton = el('button', { type: 'button', class: 'secondary file-fetch', text: 'Fetch' });
    fetchButton.addEventListener('click', () => fetchFile(message));
    card.append(fetchButton);
  }
  return card;
}

/** Asks the node to fetch (and verify) a received file, then shows it ready to save. */
async function fetchFile(message) {
  try {
    await api('POST', `/v1/files/${path(message.message_id)}/fetch`, {});
    for (let tries = 0; tries < 1200; tries += 1) {
      const now = await api('GET', `/v1/messages/${path(message.message_id)}`);
      replaceMessage(now);
      if (now.file?.state === 'done' || now.file?.state === 'failed') return;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  } catch (error) {
    showError($('send-error'), error);
  }
}

/** Sends the file the person picked to the open conversation (contacts only). */
async function sendFile() {
  const input = $('file-input');
  const file = input.files?.[0];
  input.value = '';
  if (!file || !state.current || groupOf(state.current)) return;
  const notice = $('send-error');
  notice.textContent = `Sending ${file.name}…`;
  notice.hidden = false;
  notice.classList.remove('error');
  try {
    await api('POST', `/v1/files/upload?to=${path(state.current)}&name=${path(file.name)}`, file);
    notice.textContent = `${file.name} is on its way.`;
  } catch (error) {
    notice.classList.add('error');
    showError(notice, error);
  }
}

/** Replaces a message after an edit, a reaction or a delete (an `updated` event). */
function replaceMessage(message) {
  const messages = state.messages.get(peerOf(message));
  if (!messages) return;
  const index = messages.findIndex((m) => m.message_id === message.message_id && m.direction === message.direction);
  if (index < 0) return;
  messages[index] = message;
  if (peerOf(message) === state.current) renderMessages(false);
}

/** Drops disappearing messages the node erased. */
function eraseMessages(ids) {
  const gone = new Set(ids);
  for (const [peer, messages] of state.messages) {
    const kept = messages.filter((m) => !gone.has(m.message_id));
    if (kept.length !== messages.length) {
      state.messages.set(peer, kept);
      if (peer === state.current) renderMessages(false);
    }
  }
}

let searchTimer = null;
/** Searches as the person types (debounced); an empty box shows the conversations again. */
function searchSoon() {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => runSearch().catch((error) => showError($('send-error'), error)), 200);
}

async function runSearch() {
  const query = $('search-text').value.trim();
  const results = $('search-results');
  if (!query) {
    results.hidden = true;
    results.replaceChildren();
    $('conversations').hidden = false;
    return;
  }
  const found = await api('GET', `/v1/search?q=${encodeURIComponent(query)}&limit=50`);
  if ($('search-text').value.trim() !== query) return; // typed on meanwhile
  const items = found.map((message) => {
    const button = el(
      'button',
      { type: 'button', class: 'conversation' },
      el(
        'span',
        { class: 'conversation-main' },
        el(
          'span',
          { class: 'conversation-top' },
          el('span', { class: 'name', text: message.peer ?? peerOf(message).slice(0, 12) }),
          el('span', { class: 'time', text: formatTime(message.timestamp) }),
        ),
        el('span', { class: 'conversation-bottom' }, el('span', { class: 'preview', text: message.text })),
      ),
    );
    button.addEventListener('click', () => {
      $('search-text').value = '';
      runSearch();
      openConversation(peerOf(message));
    });
    return el('li', { 'data-message-id': message.message_id }, button);
  });
  if (!items.length) items.push(el('li', { class: 'empty', text: 'Nothing found' }));
  results.replaceChildren(...items);
  results.hidden = false;
  $('conversations').hidden = true;
}

function renderMessages(toBottom) {
  const list = $('messages');
  const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  const messages = state.messages.get(state.current) ?? [];
  list.replaceChildren(...messages.map(messageItem));
  if (toBottom || nearBottom) list.scrollTop = list.scrollHeight;
}

function addMessage(message) {
  const peer = peerOf(message);
  const messages = state.messages.get(peer);
  if (!messages) return;
  const existing = messages.findIndex(
    (m) => m.message_id === message.message_id && m.direction === message.direction,
  );
  if (existing < 0) messages.push(message);
  else if ((RANK[message.status] ?? 0) >= (RANK[messages[existing].status] ?? 0)) messages[existing] = message;
  if (peer === state.current) renderMessages(message.direction === 'out');
}

function updateStatus(messageId, status) {
  let shown = status;
  for (const messages of state.messages.values()) {
    for (const message of messages) {
      if (message.message_id !== messageId || message.direction !== 'out') continue;
      // Statuses only move forward, whatever order the answers arrive in.
      if ((RANK[status] ?? 0) > (RANK[message.status] ?? 0)) message.status = status;
      shown = message.status;
    }
  }
  const item = document.querySelector(`.message.out[data-message-id="${CSS.escape(messageId)}"]`);
  if (item) {
    item.dataset.status = shown;
    item.querySelector('.tick')?.replaceWith(tick(shown));
  }
}

let marking = false;
let markAgain = false;
/** Marks the open conversation read when the page is visible and something in it is unread. */
async function markReadIfVisible() {
  const userId = state.current;
  if (!userId || document.visibilityState !== 'visible' || $('app').hidden) return;
  if (marking) {
    markAgain = true; // a message arrived while a mark was on its way
    return;
  }
  if (groupOf(userId)) return; // no read receipts in groups
  const current = conversation(userId);
  const messages = state.messages.get(userId) ?? [];
  const unreadHere = messages.some((m) => m.direction === 'in' && m.status !== 'read');
  if (!unreadHere && !(current && current.unread > 0)) return;
  marking = true;
  // Only what is here now is marked; later arrivals wait for the next round.
  const marked = messages.filter((m) => m.direction === 'in' && m.status !== 'read');
  try {
    await api('POST', `/v1/conversations/${path(userId)}/read`, {});
    for (const message of marked) message.status = 'read';
    if (current) current.unread = 0;
    renderConversations();
  } catch {
    // Tried again on the next event or focus; nothing to tell the user.
  } finally {
    marking = false;
  }
  if (markAgain) {
    markAgain = false;
    await markReadIfVisible();
  }
}

async function send(event) {
  event.preventDefault();
  const input = $('composer-text');
  const text = input.value;
  if (!text.trim() || !state.current) return;
  const button = $('send');
  button.disabled = true;
  try {
    const message = groupOf(state.current)
      ? await api('POST', `/v1/groups/${path(state.current)}/messages`, { text })
      : await api('POST', '/v1/messages', { to: state.current, text });
    input.value = '';
    showError($('send-error'), null);
    addMessage(message);
    refreshConversationsSoon();
  } catch (error) {
    showError($('send-error'), error);
  } finally {
    button.disabled = false;
    input.focus();
  }
}

function composerKey(event) {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $('composer').requestSubmit();
  }
}

// ---- live updates ------------------------------------------------------------------------------

function connectEvents() {
  if (state.events) state.events.close();
  const events = new EventSource('/v1/events');
  state.events = events;
  events.addEventListener('open', () => {
    state.retryMs = 1000;
    $('connection').hidden = true;
    // Catch up with whatever happened while disconnected.
    resync();
  });
  events.addEventListener('message', (event) => {
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return;
    }
    if (data.type === 'message') {
      addMessage(data.message);
      if (!conversation(peerOf(data.message))) refreshConversationsSoon();
      if (data.message.direction === 'in' && peerOf(data.message) === state.current) {
        markReadIfVisible().then(refreshConversationsSoon);
      } else {
        refreshConversationsSoon();
      }
    } else if (data.type === 'status') {
      updateStatus(data.message_id, data.status);
      refreshConversationsSoon();
    } else if (data.type === 'updated') {
      replaceMessage(data.message);
      refreshConversationsSoon();
    } else if (data.type === 'group') {
      refreshConversationsSoon();
    } else if (data.type === 'erased') {
      eraseMessages(data.message_ids ?? []);
      refreshConversationsSoon();
    }
  });
  events.addEventListener('error', () => {
    if (events.readyState !== EventSource.CLOSED) {
      $('connection').hidden = false;
      return; // the browser retries by itself
    }
    // Closed for good (e.g. the node restarted or the session ended): check, then retry.
    $('connection').hidden = false;
    if (state.events !== events) return;
    state.events = null;
    const wait = state.retryMs;
    state.retryMs = Math.min(state.retryMs * 2, 15000);
    setTimeout(async () => {
      try {
        await api('GET', '/v1/web/session');
        connectEvents();
      } catch (error) {
        if (error.status !== 401) setTimeout(() => connectEvents(), 0);
      }
    }, wait);
  });
}

async function resync() {
  try {
    await loadConversations();
    if (state.current) {
      const userId = state.current;
      await loadMessages(userId);
      if (state.current === userId) {
        renderMessages(false);
        await markReadIfVisible();
      }
    }
  } catch {}
}

// ---- dialogs -----------------------------------------------------------------------------------

function openAdd() {
  $('add-form').reset();
  showError($('add-error'), null);
  showScanStatus(null);
  $('add-camera').hidden = !navigator.mediaDevices?.getUserMedia;
  $('add-dialog').showModal();
  $('add-card').focus();
}

// ---- a new group ------------------------------------------------------------------------------

function openNewGroup() {
  $('group-form').reset();
  showError($('group-error'), null);
  const choices = state.conversations.map((contact) =>
    el(
      'li',
      {},
      el(
        'label',
        { class: 'choice' },
        el('input', { type: 'checkbox', name: 'member', value: contact.user_id }),
        ' ',
        contact.peer,
      ),
    ),
  );
  $('group-members').replaceChildren(...choices);
  $('group-dialog').showModal();
  $('group-name').focus();
}

async function createGroup(event) {
  event.preventDefault();
  const members = [...document.querySelectorAll('#group-members input:checked')].map((input) => input.value);
  try {
    const group = await api('POST', '/v1/groups', { name: $('group-name').value, members });
    $('group-dialog').close();
    await loadConversations();
    await openConversation(group.group_id);
  } catch (error) {
    showError($('group-error'), error);
  }
}

// ---- adding a contact from a QR code -----------------------------------------------------------

const camera = { stream: null, timer: null, busy: false, canvas: null };

function showScanStatus(text) {
  $('scan-status').textContent = text ?? '';
  $('scan-status').hidden = !text;
}

/** An error of POST /v1/contacts/scan, in words for the person. */
function scanError(error) {
  return new Error(SCAN_ERRORS[error.code] ?? error.message);
}

/** Puts a scanned card in the form for the person to check, name and add. */
function useScannedCard(found) {
  $('add-card').value = found.card;
  showError($('add-error'), null);
  showScanStatus(`Found the card of ${found.name}. Give them an alias if you like, then Add.`);
  $('add-alias').focus();
}

/** The picture as the node reads it: a PNG or JPEG under the size limit, else redrawn as a PNG. */
async function scannablePicture(file) {
  if ((file.type === 'image/png' || file.type === 'image/jpeg') && file.size <= SCAN_MAX_BYTES) {
    return file;
  }
  // Whatever this browser can show (SVG, WebP, HEIC on some phones…), through an <img>.
  const url = URL.createObjectURL(file);
  const image = new Image();
  try {
    image.src = url;
    await image.decode();
  } catch {
    throw new Error('That file is not a picture this browser can read.');
  } finally {
    URL.revokeObjectURL(url);
  }
  const width = image.naturalWidth || SCAN_MAX_SIDE;
  const height = image.naturalHeight || SCAN_MAX_SIDE;
  const scale = Math.min(1, SCAN_MAX_SIDE / Math.max(width, height));
  const canvas = document.createElement('canvas');
  canvas.width = Math.max(1, Math.round(width * scale));
  canvas.height = Math.max(1, Math.round(height * scale));
  const context = canvas.getContext('2d');
  context.fillStyle = '#ffffff';
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.drawImage(image, 0, 0, canvas.width, canvas.height);
  const png = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
  if (!png) throw new Error(SCAN_ERRORS.invalid_image);
  return png;
}

async function scanFile() {
  const input = $('add-scan-file');
  const file = input.files?.[0];
  input.value = ''; // choosing the same file again is a new choice
  if (!file) return;
  stopCamera();
  showError($('add-error'), null);
  showScanStatus('Reading the QR code…');
  $('add-scan').disabled = true;
  try {
    useScannedCard(await api('POST', '/v1/contacts/scan', await scannablePicture(file)));
  } catch (error) {
    showScanStatus(null);
    showError($('add-error'), error instanceof ApiError ? scanError(error) : error);
  } finally {
    $('add-scan').disabled = false;
  }
}

async function startCamera() {
  if (camera.stream) return;
  showError($('add-error'), null);
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: 'environment' },
      audio: false,
    });
  } catch (error) {
    showError($('add-error'), new Error(`The camera could not be opened (${error.name}).`));
    return;
  }
  if (!$('add-dialog').open) {
    for (const track of stream.getTracks()) track.stop();
    return;
  }
  camera.stream = stream;
  const video = $('camera-video');
  video.srcObject = stream;
  $('camera').hidden = false;
  $('add-camera').hidden = true;
  showScanStatus('Point the camera at their QR code…');
  video.play().catch(() => {});
  camera.timer = setInterval(scanFrame, SCAN_EVERY_MS);
}

function stopCamera() {
  clearInterval(camera.timer);
  camera.timer = null;
  if (camera.stream) {
    for (const track of camera.stream.getTracks()) track.stop();
  }
  camera.stream = null;
  $('camera-video').srcObject = null;
  $('camera').hidden = true;
  $('add-camera').hidden = !navigator.mediaDevices?.getUserMedia;
}

/** Sends the camera's current frame to the node; stops the camera once a card is found. */
async function scanFrame() {
  const video = $('camera-video');
  if (camera.busy || !camera.stream || video.readyState < 2 || !video.videoWidth) return;
  camera.busy = true;
  const stream = camera.stream;
  try {
    const canvas = (camera.canvas ??= document.createElement('canvas'));
    const scale = Math.min(1, SCAN_MAX_SIDE / Math.max(video.videoWidth, video.videoHeight));
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    canvas.getContext('2d').drawImage(video, 0, 0, canvas.width, canvas.height);
    const frame = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
    if (!frame || camera.stream !== stream) return;
    const found = await api('POST', '/v1/contacts/scan', frame);
    if (camera.stream !== stream) return;
    stopCamera();
    useScannedCard(found);
  } catch (error) {
    if (camera.stream !== stream) return;
    if (error.code === 'no_qr_code') {
      showError($('add-error'), null); // nothing in view yet: keep looking
    } else if (error.code === 'not_a_card' || error.code === 'own_card') {
      showError($('add-error'), scanError(error)); // another code in view: keep looking
    } else {
      stopCamera();
      showScanStatus(null);
      showError($('add-error'), error instanceof ApiError ? scanError(error) : error);
    }
  } finally {
    camera.busy = false;
  }
}

async function addContact(event) {
  event.preventDefault();
  const card = $('add-card').value.replace(/\s+/g, '');
  const alias = $('add-alias').value.trim();
  if (!card) return;
  $('add-submit').disabled = true;
  try {
    const contact = await api('POST', '/v1/contacts', { card, alias: alias || null });
    $('add-dialog').close();
    await loadConversations();
    await openConversation(contact.user_id);
  } catch (error) {
    showError($('add-error'), error);
  } finally {
    $('add-submit').disabled = false;
  }
}

async function openMe() {
  try {
    const me = await api('GET', '/v1/id');
    $('me-card-name').textContent = me.name;
    $('me-user-id').textContent = me.user_id;
    $('me-fingerprint').textContent = me.fingerprint;
    $('me-card').value = me.card;
    // A new address each time: the card changes with the node's addresses.
    $('me-qr').src = `/v1/id/qr.svg?at=${Date.now()}`;
    $('copy-card').textContent = 'Copy card';
    $('me-dialog').showModal();
  } catch {}
}

async function copyCard() {
  const card = $('me-card');
  try {
    await navigator.clipboard.writeText(card.value);
  } catch {
    card.select();
    document.execCommand('copy');
  }
  $('copy-card').textContent = 'Copied ✓';
}

async function openSafety() {
  if (!state.current) return;
  showError($('safety-error'), null);
  $('safety-input').value = '';
  try {
    const contact = await api('GET', `/v1/contacts/${path(state.current)}`);
    renderSafety(contact);
    $('safety-dialog').showModal();
  } catch (error) {
    showError($('send-error'), error);
  }
}

function renderSafety(contact) {
  $('safety-peer').textContent = contact.alias ?? contact.name;
  $('safety-number').textContent = contact.safety_number;
  $('safety-state').textContent = contact.verified
    ? '✔ You marked this contact verified.'
    : 'Not verified yet.';
  $('mark-verified').hidden = contact.verified;
  $('safety-check').hidden = contact.verified;
}

async function markVerified(event) {
  event.preventDefault();
  const entered = $('safety-input').value.trim();
  try {
    const contact = await api('POST', `/v1/contacts/${path(state.current)}/verify`, {
      safety_number: entered || null,
    });
    showError($('safety-error'), null);
    renderSafety(contact);
    const current = conversation(contact.user_id);
    if (current) current.verified = contact.verified;
    renderConversations();
    renderChatHeader();
  } catch (error) {
    showError($('safety-error'), error);
  }
}

async function logout() {
  try {
    await api('POST', '/v1/web/logout', {});
  } catch {}
  showLoginNeeded();
}

// ---- start -------------------------------------------------------------------------------------

function wire() {
  $('theme-toggle').addEventListener('click', toggleTheme);
  $('show-add').addEventListener('click', openAdd);
  $('show-new-group').addEventListener('click', openNewGroup);
  $('group-form').addEventListener('submit', createGroup);
  $('group-cancel').addEventListener('click', () => $('group-dialog').close());
  $('add-form').addEventListener('submit', addContact);
  $('add-cancel').addEventListener('click', () => $('add-dialog').close());
  $('add-dialog').addEventListener('close', stopCamera);
  $('add-scan').addEventListener('click', () => $('add-scan-file').click());
  $('add-scan-file').addEventListener('change', scanFile);
  $('add-camera').addEventListener('click', startCamera);
  $('camera-stop').addEventListener('click', () => {
    stopCamera();
    showScanStatus(null);
  });
  $('show-me').addEventListener('click', openMe);
  $('copy-card').addEventListener('click', copyCard);
  $('me-close').addEventListener('click', () => $('me-dialog').close());
  $('show-safety').addEventListener('click', openSafety);
  $('safety-form').addEventListener('submit', markVerified);
  $('safety-close').addEventListener('click', () => $('safety-dialog').close());
  $('logout').addEventListener('click', logout);
  $('back').addEventListener('click', closeConversation);
  $('composer').addEventListener('submit', send);
  $('attach').addEventListener('click', () => $('file-input').click());
  $('file-input').addEventListener('change', sendFile);
  $('search-text').addEventListener('input', searchSoon);
  $('search-form').addEventListener('submit', (event) => {
    event.preventDefault();
    searchSoon();
  });
  $('composer-text').addEventListener('keydown', composerKey);
  document.addEventListener('visibilitychange', () => markReadIfVisible());
  window.addEventListener('focus', () => markReadIfVisible());
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', applyTheme);
}

async function start() {
  applyTheme();
  wire();
  let session;
  try {
    session = await api('GET', '/v1/web/session');
  } catch (error) {
    if (error.status !== 401) {
      $('loading').replaceChildren(el('p', { class: 'error', text: error.message }));
    }
    return;
  }
  state.csrf = session.csrf;
  state.me = session;
  $('me-name').textContent = session.name;
  document.title = `Ômega — ${session.name}`;
  showApp();
  await loadConversations().catch(() => {});
  connectEvents();
}

start();
