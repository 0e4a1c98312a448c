// The Ômega hub console: sign-in, the shell (navigation, realtime status) and the router. Each
// screen is a module with `mount(root, ctx, param)` returning `{ onEvent, unmount }`.
import * as api from './api.js';
import { h, replace, toast } from './dom.js';
import * as inbox from './inbox.js';
import * as channels from './channels.js';
import * as admin from './admin.js';
import * as dashboard from './dashboard.js';

const app = document.getElementById('app');
const UNREAD_KEY = 'omega.console.unread';
const LANG_KEY = 'omega.console.lang';

const screens = {
  inbox: { title: 'Inbox', scope: 'inbox:read', module: inbox },
  dashboard: { title: 'Dashboard', scope: 'inbox:read', module: dashboard },
  channels: { title: 'Channels', scope: 'inbox:read', module: channels },
  members: { title: 'Members', scope: 'members:read', module: admin.members },
  security: { title: 'Security', scope: null, module: admin.security },
  audit: { title: 'Audit', scope: 'audit:read', module: admin.audit },
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
    lang: (navigator.language || 'en').toLowerCase().startsWith('pt') ? 'pt' : 'en',
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
  const stored = localStorage.getItem(LANG_KEY);
  if (stored === 'pt' || stored === 'en') context.lang = stored;
  return context;
}

// ---------------------------------------------------------------- sign-in

const LOGIN_ERRORS = {
  invalid_credentials: 'Wrong workspace, email or password.',
  totp_required: 'This account uses two-factor authentication: enter the 6-digit code from your authenticator app (or a recovery code).',
  totp_invalid: 'Wrong authenticator code. Check the time on your phone and try the current code.',
  totp_replayed: 'That code was already used. Wait for the next one.',
  recovery_code_invalid: 'Unknown or already used recovery code.',
  account_locked: 'Too many failed attempts for this account. Wait a moment and try again.',
  rate_limited: 'Too many sign-in attempts from this address. Wait a moment and try again.',
  member_disabled: 'This account is disabled. Ask an administrator.',
  bad_request: null,
};

function showLogin(notice) {
  stopRealtime();
  current?.unmount?.();
  current = null;
  currentName = null;
  ctx = null;
  document.title = 'Sign in · Ômega Hub';
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const totpHint = h('small', {}, 'Only if two-factor authentication is on. A recovery code works too.');
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
    h('div', { class: 'login-brand' }, h('img', { src: 'icon.svg', alt: '', width: '40', height: '40' }), h('h1', {}, 'Ômega Hub')),
    h('p', { class: 'muted' }, 'Sign in to your business console.'),
    notice ? h('p', { class: 'notice' }, notice) : null,
    h('label', { class: 'field' }, h('span', { class: 'label' }, 'Workspace'), h('input', { name: 'tenant', id: 'login-tenant', required: true, autocomplete: 'organization', value: localStorage.getItem('omega.console.tenant') || '', placeholder: 'acme' })),
    h('label', { class: 'field' }, h('span', { class: 'label' }, 'Email'), h('input', { name: 'email', id: 'login-email', type: 'email', required: true, autocomplete: 'username' })),
    h('label', { class: 'field' }, h('span', { class: 'label' }, 'Password'), h('input', { name: 'password', id: 'login-password', type: 'password', required: true, autocomplete: 'current-password' })),
    h('label', { class: 'field totp' }, h('span', { class: 'label' }, 'Authenticator code'), totp, totpHint),
    error,
    h('button', { type: 'submit', class: 'primary', id: 'login-submit' }, 'Sign in'),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const tenant = String(data.get('tenant')).trim().toLowerCase();
    const email = String(data.get('email')).trim();
    const password = String(data.get('password'));
    const totpCode = String(data.get('totp')).replace(/\s+/g, '');
    if (!tenant || !email || !password) {
      error.hidden = false;
      error.textContent = 'Fill in the workspace, email and password.';
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
      error.hidden = false;
      if (failure instanceof api.ApiError) {
        error.textContent = LOGIN_ERRORS[failure.code] || failure.message;
        if (['totp_required', 'totp_invalid', 'totp_replayed', 'recovery_code_invalid'].includes(failure.code)) {
          form.classList.add('needs-totp');
          totp.required = true;
          totp.value = '';
          totp.focus();
        }
      } else {
        error.textContent = 'Cannot reach the hub. Check your connection and try again.';
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
  liveDot = h('span', { class: 'live', id: 'live', title: 'Realtime: connecting', dataset: { state: 'connecting' } }, h('span', { class: 'dot' }), h('span', { class: 'live-label' }, 'connecting'));
  navLinks = {};
  const nav = h('nav', { class: 'main-nav', 'aria-label': 'Sections' });
  for (const [name, screen] of Object.entries(screens)) {
    if (screen.scope && !ctx.can(screen.scope)) continue;
    if (name === 'security' && ctx.me.kind !== 'member') continue;
    const link = h('a', { href: `#/${name}`, id: `nav-${name}` }, screen.title, name === 'inbox' ? h('span', { class: 'badge', hidden: true }) : null);
    navLinks[name] = link;
    nav.appendChild(link);
  }
  const lang = h('button', { class: 'ghost', id: 'lang', title: 'Language of lead suggestions', on: { click: () => {
    ctx.lang = ctx.lang === 'pt' ? 'en' : 'pt';
    localStorage.setItem('omega.console.lang', ctx.lang);
    lang.textContent = ctx.lang.toUpperCase();
    currentName = null;
    route();
  } } }, ctx.lang.toUpperCase());
  const who = ctx.me.member ? ctx.me.member.email : 'API key';
  const header = h(
    'header',
    { class: 'top' },
    h('a', { class: 'brand', href: '#/inbox' }, h('img', { src: 'icon.svg', alt: '', width: '24', height: '24' }), h('span', {}, 'Ômega Hub')),
    nav,
    h('div', { class: 'top-right' }, liveDot, lang, h('span', { class: 'who', title: ctx.me.member?.role || '' }, who), h('button', { class: 'ghost', id: 'logout', on: { click: () => api.logout() } }, 'Sign out')),
  );
  const view = h('main', { id: 'view' });
  replace(app, header, view);
  updateBadge();
  return view;
}

function setLive(state) {
  if (!liveDot) return;
  liveDot.dataset.state = state;
  liveDot.title = `Realtime: ${state}`;
  liveDot.querySelector('.live-label').textContent = state;
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
    replace(document.getElementById('view'), h('p', { class: 'empty' }, 'This credential has no access to any console screen.'));
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
  document.title = `${screens[screenName].title} · Ômega Hub`;
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

api.onSessionEnded((reason) => {
  const notices = {
    logout: 'You signed out.',
    device_revoked: 'This session was revoked. Sign in again.',
    refresh_reused: 'This session was ended for safety (a refresh token was used twice). Sign in again.',
    refresh_revoked: 'This session was revoked. Sign in again.',
    refresh_expired: 'Your session expired. Sign in again.',
    member_disabled: 'This account is disabled.',
  };
  showLogin(notices[reason] || 'Your session ended. Sign in again.');
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
