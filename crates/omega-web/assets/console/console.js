// The Ômega hub console: sign-in, the shell (navigation, realtime status) and the router. Each
// screen is a module with `mount(root, ctx, param)` returning `{ onEvent, unmount }`.
import * as api from './api.js';
import { h, replace, toast } from './dom.js';
import { t, ht, ta, language, setLanguage } from './i18n.js';
import * as inbox from './inbox.js';
import * as channels from './channels.js';
import * as admin from './admin.js';
import * as dashboard from './dashboard.js';

const app = document.getElementById('app');
const UNREAD_KEY = 'omega.console.unread';

// Each screen's title is the label `nav.<name>` (i18n.js).
const screens = {
  inbox: { scope: 'inbox:read', module: inbox },
  dashboard: { scope: 'inbox:read', module: dashboard },
  channels: { scope: 'inbox:read', module: channels },
  members: { scope: 'members:read', module: admin.members },
  security: { scope: null, module: admin.security },
  audit: { scope: 'audit:read', module: admin.audit },
};

let ctx = null;
let current = null;
let currentName = null;
let stopEvents = null;

/** Conversations with news the agent has not opened (kept for this tab). */
function loadUnread() {
  try {
    return new Set(JSON.parse(sessionStorage.getItem(UNREAD_KEY) || '[]'));
  } catch {
    return new Set();
  }
}

function makeContext(me) {
  const scopes = new Set(me.scopes);
  const unread = loadUnread();
  const context = {
    me,
    can: (scope) => scopes.has(scope),
    /** `en` or `pt`: the EN/PT switch (i18n.js keeps it). */
    get lang() {
      return language();
    },
    unread,
    openConversation: null,
    channelCache: null,
    memberCache: null,
    markUnread(id, on) {
      if (on) unread.add(id);
      else unread.delete(id);
      sessionStorage.setItem(UNREAD_KEY, JSON.stringify([...unread]));
      updateBadge();
    },
    async channels(force = false) {
      if (!context.channelCache || force) {
        const list = await api.get('/api/v1/channels');
        context.channelCache = new Map(list.map((channel) => [channel.id, channel]));
      }
      return context.channelCache;
    },
    async members(force = false) {
      if (!context.memberCache || force) {
        let list = [];
        if (context.can('members:read')) list = await api.get('/api/v1/members');
        else if (me.member) list = [me.member];
        context.memberCache = new Map(list.map((member) => [member.id, member]));
      }
      return context.memberCache;
    },
    navigate(hash) {
      if (location.hash === hash) route();
      else location.hash = hash;
    },
  };
  return context;
}

// ---------------------------------------------------------------- sign-in

/** Sign-in refusals with a label of their own (`login.error.<code>`); others show the hub's text. */
const LOGIN_ERRORS = new Set(['invalid_credentials', 'totp_required', 'totp_invalid', 'totp_replayed', 'recovery_code_invalid', 'account_locked', 'rate_limited', 'member_disabled']);

/** The EN/PT switch: `onSwitch` runs after the labels on the page changed. */
function languageButton(id, onSwitch) {
  const button = h('button', { type: 'button', class: 'ghost small lang', id, ...ta('title', 'lang.title') }, language().toUpperCase());
  button.addEventListener('click', () => {
    setLanguage(language() === 'pt' ? 'en' : 'pt');
    button.textContent = language().toUpperCase();
    onSwitch?.();
  });
  return button;
}

/** The sign-in form; `notice` is the label of a notice to show above it. */
function showLogin(notice) {
  stopRealtime();
  current?.unmount?.();
  current = null;
  currentName = null;
  ctx = null;
  const setTitle = () => (document.title = `${t('login.page_title')} · Ômega Hub`);
  setTitle();
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  /** Shows a labelled error (it follows the language switch) or the hub's own text. */
  const showError = (key, text) => {
    error.hidden = false;
    if (key) {
      error.dataset.i18n = key;
      error.textContent = t(key);
    } else {
      delete error.dataset.i18n;
      error.textContent = text;
    }
  };
  const totpHint = ht('small', 'login.totp_hint');
  const totp = h('input', {
    name: 'totp',
    id: 'login-totp',
    inputmode: 'numeric',
    autocomplete: 'one-time-code',
    placeholder: '123456',
    maxlength: '32',
  });
  const form = h(
    'form',
    { class: 'login card', id: 'login-form', novalidate: true },
    h('div', { class: 'login-brand' }, h('img', { src: 'icon.svg', alt: '', width: '40', height: '40' }), h('h1', {}, 'Ômega Hub'), languageButton('login-lang', setTitle)),
    ht('p', 'login.intro', { class: 'muted' }),
    notice ? ht('p', notice, { class: 'notice' }) : null,
    h('label', { class: 'field' }, ht('span', 'login.workspace', { class: 'label' }), h('input', { name: 'tenant', id: 'login-tenant', required: true, autocomplete: 'organization', value: localStorage.getItem('omega.console.tenant') || '', placeholder: 'acme' })),
    h('label', { class: 'field' }, ht('span', 'login.email', { class: 'label' }), h('input', { name: 'email', id: 'login-email', type: 'email', required: true, autocomplete: 'username' })),
    h('label', { class: 'field' }, ht('span', 'login.password', { class: 'label' }), h('input', { name: 'password', id: 'login-password', type: 'password', required: true, autocomplete: 'current-password' })),
    h('label', { class: 'field totp' }, ht('span', 'login.totp', { class: 'label' }), totp, totpHint),
    error,
    ht('button', 'login.submit', { type: 'submit', class: 'primary', id: 'login-submit' }),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const tenant = String(data.get('tenant')).trim().toLowerCase();
    const email = String(data.get('email')).trim();
    const password = String(data.get('password'));
    const totpCode = String(data.get('totp')).replace(/\s+/g, '');
    if (!tenant || !email || !password) {
      showError('login.fill');
      return;
    }
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    error.hidden = true;
    try {
      await api.login({ tenant, email, password, totpCode });
      localStorage.setItem('omega.console.tenant', tenant);
      await start();
    } catch (failure) {
      if (failure instanceof api.ApiError) {
        if (LOGIN_ERRORS.has(failure.code)) showError(`login.error.${failure.code}`);
        else showError(null, failure.message);
        if (['totp_required', 'totp_invalid', 'totp_replayed', 'recovery_code_invalid'].includes(failure.code)) {
          form.classList.add('needs-totp');
          totp.required = true;
          totp.value = '';
          totp.focus();
        }
      } else {
        showError('login.unreachable');
      }
    } finally {
      button.disabled = false;
    }
  });
  replace(app, h('div', { class: 'login-page' }, form));
  (form.querySelector('#login-tenant').value ? form.querySelector('#login-email') : form.querySelector('#login-tenant')).focus();
}

// ---------------------------------------------------------------- shell

let liveDot = null;
let navLinks = {};

function updateBadge() {
  const link = navLinks.inbox;
  if (!link || !ctx) return;
  const badge = link.querySelector('.badge');
  const count = ctx.unread.size;
  badge.textContent = count ? String(count) : '';
  badge.hidden = !count;
}

function shell() {
  liveDot = h('span', { class: 'live', id: 'live', dataset: { state: 'connecting' } }, h('span', { class: 'dot' }), h('span', { class: 'live-label' }));
  navLinks = {};
  const nav = h('nav', { class: 'main-nav', ...ta('aria-label', 'nav.sections') });
  for (const [name, screen] of Object.entries(screens)) {
    if (screen.scope && !ctx.can(screen.scope)) continue;
    if (name === 'security' && ctx.me.kind !== 'member') continue;
    const link = h('a', { href: `#/${name}`, id: `nav-${name}` }, ht('span', `nav.${name}`), name === 'inbox' ? h('span', { class: 'badge', hidden: true }) : null);
    navLinks[name] = link;
    nav.appendChild(link);
  }
  // The switch relabels the page in place, then mounts the screen again for its built text.
  const lang = languageButton('lang', () => {
    setLive(liveDot.dataset.state);
    currentName = null;
    route();
  });
  const who = ctx.me.member ? h('span', {}, ctx.me.member.email) : ht('span', 'header.api_key');
  const header = h(
    'header',
    { class: 'top' },
    h('a', { class: 'brand', href: '#/inbox' }, h('img', { src: 'icon.svg', alt: '', width: '24', height: '24' }), h('span', {}, 'Ômega Hub')),
    nav,
    h('div', { class: 'top-right' }, liveDot, lang, h('span', { class: 'who', title: ctx.me.member?.role || '' }, who), ht('button', 'header.signout', { class: 'ghost', id: 'logout', on: { click: () => api.logout() } })),
  );
  const view = h('main', { id: 'view' });
  replace(app, header, view);
  setLive('connecting');
  updateBadge();
  return view;
}

function setLive(state) {
  if (!liveDot) return;
  liveDot.dataset.state = state;
  const label = t(`live.${state}`);
  liveDot.title = t('live.title', { state: label });
  liveDot.querySelector('.live-label').textContent = label;
}

function stopRealtime() {
  stopEvents?.();
  stopEvents = null;
}

function onEvent(kind, data) {
  if (!ctx) return;
  if (kind === 'message.new' && data && data.direction === 'in' && data.conversation_id !== ctx.openConversation) {
    ctx.markUnread(data.conversation_id, true);
  }
  try {
    current?.onEvent?.(kind, data);
  } catch (error) {
    console.error('event handler', error);
  }
}

function route() {
  if (!ctx) return;
  const [name, ...rest] = location.hash.replace(/^#\/?/, '').split('/');
  const screenName = screens[name] && (!screens[name].scope || ctx.can(screens[name].scope)) ? name : Object.keys(navLinks)[0];
  if (!screenName) {
    replace(document.getElementById('view'), ht('p', 'nav.none', { class: 'empty' }));
    return;
  }
  if (screenName !== name) {
    location.replace(`#/${screenName}`);
    return;
  }
  for (const [linkName, link] of Object.entries(navLinks)) {
    if (linkName === screenName) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const param = rest.length ? decodeURIComponent(rest.join('/')) : null;
  if (current && currentName === screenName && current.update) {
    current.update(param);
    return;
  }
  current?.unmount?.();
  ctx.openConversation = null;
  currentName = screenName;
  const view = document.getElementById('view');
  replace(view);
  view.className = `screen-${screenName}`;
  document.title = `${t(`nav.${screenName}`)} · Ômega Hub`;
  current = screens[screenName].module.mount(view, ctx, param) || null;
}

async function start() {
  const me = await api.get('/api/v1/me');
  ctx = makeContext(me);
  shell();
  stopRealtime();
  if (ctx.can('inbox:read')) stopEvents = api.followEvents(onEvent, setLive);
  else setLive('off');
  if (!location.hash) location.replace('#/inbox');
  route();
}

const SESSION_NOTICES = new Set(['logout', 'device_revoked', 'refresh_reused', 'refresh_revoked', 'refresh_expired', 'member_disabled']);

api.onSessionEnded((reason) => {
  showLogin(SESSION_NOTICES.has(reason) ? `session.${reason}` : 'session.ended');
});

window.addEventListener('hashchange', route);
window.addEventListener('unhandledrejection', (event) => {
  const error = event.reason;
  if (error instanceof api.ApiError && error.status === 401) return;
  toast(error?.message || String(error), 'error');
});

(async () => {
  try {
    if (await api.restore()) {
      await start();
      return;
    }
  } catch {
    api.endSession('expired');
    return;
  }
  showLogin();
})();
