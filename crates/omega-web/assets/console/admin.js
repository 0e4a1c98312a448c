// Administration screens: members and roles, the security center (my devices and sessions, two-
// factor authentication) and the audit log with in-browser proof checking.
import * as api from './api.js';
import { h, replace, fullTime, toast, field, select } from './dom.js';
import { verifyEntry } from './merkle.js';

const ROLES = [
  ['agent', 'Agent — inbox, contacts, leads'],
  ['viewer', 'Viewer — reads the inbox'],
  ['auditor', 'Auditor — audit log, members'],
  ['admin', 'Admin — everything but billing'],
];

// ---------------------------------------------------------------- members

export const members = {
  mount(root, ctx) {
    const body = h('tbody');
    const canWrite = ctx.can('members:write');
    let disposed = false;
    root.appendChild(
      h(
        'div',
        { class: 'page' },
        h('div', { class: 'pane-head' }, h('h2', {}, 'Members and roles')),
        h('div', { class: 'table-wrap' }, h('table', { id: 'members' }, h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Email'), h('th', {}, 'Role'), h('th', {}, '2FA'), h('th', {}, 'Status'), h('th', {}, 'Scopes'), h('th', {}, 'Since'))), body)),
        canWrite ? addForm() : h('p', { class: 'muted' }, 'Adding members needs the members:write scope.'),
      ),
    );

    async function load() {
      try {
        const list = await ctx.members(true);
        if (disposed) return;
        replace(
          body,
          [...list.values()].map((member) =>
            h(
              'tr',
              { dataset: { id: member.id } },
              h('td', {}, member.display_name, member.id === ctx.me.member?.id ? h('span', { class: 'tag' }, 'you') : null),
              h('td', {}, member.email),
              h('td', {}, h('span', { class: ['role', `role-${member.role}`] }, member.role)),
              h('td', {}, member.totp_enabled ? 'on' : 'off'),
              h('td', {}, member.disabled ? h('span', { class: 'bad' }, 'disabled') : 'active'),
              h('td', { class: 'scopes', title: member.scopes.join(' ') }, String(member.scopes.length)),
              h('td', { class: 'nowrap' }, fullTime(member.created_ms)),
            ),
          ),
        );
      } catch (error) {
        replace(body, h('tr', {}, h('td', { colspan: '7', class: 'form-error' }, error.message)));
      }
    }

    function addForm() {
      const roles = ctx.me.member?.role === 'owner' ? ROLES : ROLES.filter(([role]) => role !== 'admin' || ctx.me.member?.role === 'admin');
      const form = h(
        'form',
        { class: 'card stack narrow', id: 'add-member' },
        h('h3', {}, 'Add a member'),
        field('Name', h('input', { name: 'display_name', required: true, maxlength: '100' })),
        field('Email', h('input', { name: 'email', type: 'email', required: true })),
        field('Role', select('role', roles, 'agent')),
        field('Initial password', h('input', { name: 'password', type: 'password', minlength: '10', required: true, autocomplete: 'new-password' }), 'At least 10 characters; give it to them privately.'),
        h('button', { type: 'submit', class: 'primary' }, 'Add member'),
      );
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        const data = new FormData(form);
        try {
          await api.post('/api/v1/members', {
            display_name: String(data.get('display_name')).trim(),
            email: String(data.get('email')).trim(),
            role: data.get('role'),
            password: String(data.get('password')),
          });
          form.reset();
          toast('Member added.');
          load();
        } catch (error) {
          toast(`Could not add the member: ${error.message}`, 'error');
        }
      });
      return form;
    }

    load();
    return {
      unmount() {
        disposed = true;
      },
    };
  },
};

// ---------------------------------------------------------------- security center

export const security = {
  mount(root, ctx) {
    const body = h('tbody');
    const totpBox = h('div', { class: 'card stack narrow', id: 'totp' });
    let disposed = false;
    root.appendChild(
      h(
        'div',
        { class: 'page' },
        h('div', { class: 'pane-head' }, h('h2', {}, 'Security center')),
        h('h3', {}, 'My devices and sessions'),
        h('p', { class: 'muted' }, 'Each sign-in is a device. Revoking one ends its session at its next request.'),
        h('div', { class: 'table-wrap' }, h('table', { id: 'devices' }, h('thead', {}, h('tr', {}, h('th', {}, 'Device'), h('th', {}, 'IP'), h('th', {}, 'Signed in'), h('th', {}, 'Last seen'), h('th', {}, 'State'), h('th', {}))), body)),
        h('p', {}, h('button', { class: 'ghost', id: 'revoke-others', on: { click: revokeOthers } }, 'Sign out all other devices')),
        h('h3', {}, 'Two-factor authentication'),
        totpBox,
      ),
    );

    async function load() {
      try {
        const devices = await api.get('/api/v1/security/devices');
        if (disposed) return;
        devices.sort((a, b) => (a.revoked_ms ? 1 : 0) - (b.revoked_ms ? 1 : 0) || b.last_seen_ms - a.last_seen_ms);
        replace(
          body,
          devices.map((device) =>
            h(
              'tr',
              { dataset: { id: device.id }, class: [device.current && 'current', device.revoked_ms && 'revoked'] },
              h('td', {}, h('div', {}, device.name, device.current ? h('span', { class: 'tag' }, 'this device') : null), h('small', { class: 'muted ua' }, device.user_agent)),
              h('td', { class: 'mono' }, device.ip),
              h('td', { class: 'nowrap' }, fullTime(device.created_ms)),
              h('td', { class: 'nowrap' }, fullTime(device.last_seen_ms)),
              h('td', {}, device.revoked_ms ? h('span', { class: 'bad' }, `revoked ${fullTime(device.revoked_ms)}`) : 'active'),
              h('td', {}, device.revoked_ms ? null : h('button', { class: 'danger small', dataset: { revoke: device.id }, on: { click: () => revoke(device) } }, device.current ? 'Sign out here' : 'Revoke')),
            ),
          ),
        );
      } catch (error) {
        replace(body, h('tr', {}, h('td', { colspan: '6', class: 'form-error' }, error.message)));
      }
    }

    async function revoke(device) {
      if (device.current && !confirm('Revoke this device? You will be signed out.')) return;
      try {
        await api.post(`/api/v1/security/devices/${encodeURIComponent(device.id)}/revoke`);
        if (device.current) {
          api.endSession('device_revoked');
          return;
        }
        toast(`Revoked “${device.name}”.`);
        load();
      } catch (error) {
        toast(`Could not revoke: ${error.message}`, 'error');
      }
    }

    async function revokeOthers() {
      if (!confirm('Sign out every other device of yours?')) return;
      try {
        const { revoked } = await api.post('/api/v1/security/devices/revoke-all');
        toast(`${revoked} device(s) signed out.`);
        load();
      } catch (error) {
        toast(error.message, 'error');
      }
    }

    function renderTotp(enabled) {
      if (enabled) {
        const code = h('input', { name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', required: true, placeholder: '123456' });
        const form = h('form', { class: 'stack' }, h('p', {}, h('span', { class: 'ok' }, 'On.'), ' Sign-ins need a code from your authenticator app.'), field('Current code, to turn it off', code), h('button', { class: 'danger', type: 'submit' }, 'Turn off'));
        form.addEventListener('submit', async (event) => {
          event.preventDefault();
          try {
            await api.post('/api/v1/auth/totp/disable', { code: code.value.trim() });
            toast('Two-factor authentication is off.');
            renderTotp(false);
          } catch (error) {
            toast(error.message, 'error');
          }
        });
        replace(totpBox, form);
        return;
      }
      const start = h('button', { class: 'primary', id: 'totp-enroll', on: { click: enroll } }, 'Turn on');
      replace(totpBox, h('p', {}, 'Off. Turn it on to require a code from an authenticator app at sign-in.'), start);
    }

    async function enroll() {
      let enrollment;
      try {
        enrollment = await api.post('/api/v1/auth/totp/enroll');
      } catch (error) {
        toast(error.message, 'error');
        return;
      }
      const code = h('input', { name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', required: true, placeholder: '123456' });
      const form = h(
        'form',
        { class: 'stack' },
        h('p', {}, 'Add this key to your authenticator app, then enter the code it shows.'),
        h('p', {}, h('code', { class: 'secret' }, enrollment.secret.replace(/(.{4})/g, '$1 ').trim())),
        h('details', {}, h('summary', {}, 'otpauth link'), h('code', { class: 'wrap' }, enrollment.otpauth_uri)),
        field('Code', code),
        h('button', { class: 'primary', type: 'submit' }, 'Confirm'),
      );
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        try {
          const { recovery_codes: codes } = await api.post('/api/v1/auth/totp/confirm', { code: code.value.trim() });
          replace(totpBox, h('p', {}, h('strong', {}, 'On. Keep these recovery codes somewhere safe: each works once, and they are not shown again.')), h('ul', { class: 'codes' }, codes.map((c) => h('li', {}, h('code', {}, c)))), h('button', { class: 'ghost', on: { click: () => renderTotp(true) } }, 'Done'));
        } catch (error) {
          toast(error.message, 'error');
        }
      });
      replace(totpBox, form);
    }

    load();
    if (ctx.me.member) renderTotp(ctx.me.member.totp_enabled);
    return {
      unmount() {
        disposed = true;
      },
    };
  },
};

// ---------------------------------------------------------------- audit log

const PAGE = 200;

export const audit = {
  mount(root) {
    const body = h('tbody');
    const headBox = h('div', { class: 'card head', id: 'audit-head' });
    const more = h('button', { class: 'ghost', id: 'audit-more', hidden: true }, 'Older entries');
    let disposed = false;
    root.appendChild(
      h(
        'div',
        { class: 'page' },
        h('div', { class: 'pane-head' }, h('h2', {}, 'Audit log')),
        h('p', { class: 'muted' }, 'Every sign-in, permission change, revocation, configuration change and read of personal data is an entry of a signed, append-only Merkle log. “Verify” fetches the signed head and an inclusion proof and checks both here, in your browser.'),
        headBox,
        h('div', { class: 'table-wrap' }, h('table', { id: 'audit' }, h('thead', {}, h('tr', {}, h('th', { class: 'num' }, '#'), h('th', {}, 'When'), h('th', {}, 'Who'), h('th', {}, 'Action'), h('th', {}, 'Target'), h('th', {}, 'Outcome'), h('th', {}, 'Proof'))), body)),
        more,
      ),
    );

    function who(actor) {
      if (!actor) return '';
      if (actor.kind === 'member') return `member ${actor.member_id.slice(-8)}`;
      if (actor.kind === 'api_key') return `API key ${actor.key_id.slice(-8)}`;
      if (actor.kind === 'system') return actor.name;
      if (actor.kind === 'anonymous') return `anonymous (${actor.ip})`;
      return actor.kind;
    }

    function row(view) {
      let entry = {};
      try {
        entry = JSON.parse(view.entry);
      } catch {}
      const result = h('span', { class: 'verdict' });
      const button = h('button', { class: 'ghost small verify', dataset: { index: String(view.index) } }, 'Verify');
      button.addEventListener('click', async () => {
        button.disabled = true;
        result.className = 'verdict';
        result.textContent = 'checking…';
        try {
          const head = await api.get('/api/v1/audit/head');
          const proof = await api.get(`/api/v1/audit/proof/inclusion?index=${view.index}&size=${head.size}`);
          const verdict = await verifyEntry(head, proof, view.entry);
          result.className = ['verdict', verdict.ok ? 'ok' : 'bad'].join(' ');
          result.textContent = verdict.ok ? `OK — in the signed log of ${verdict.size}${verdict.signatureChecked ? '' : ' (signature not checked by this browser)'}` : `FAILED — ${verdict.reason}`;
          result.title = verdict.ok ? `root ${verdict.root}` : '';
        } catch (error) {
          result.className = 'verdict bad';
          result.textContent = `FAILED — ${error.message}`;
        } finally {
          button.disabled = false;
        }
      });
      return h(
        'tr',
        { dataset: { index: String(view.index) }, class: view.redacted && 'redacted' },
        h('td', { class: 'num' }, String(view.index)),
        h('td', { class: 'nowrap' }, fullTime(entry.time_ms)),
        h('td', {}, who(entry.actor)),
        h('td', { class: 'mono' }, entry.action || (view.redacted ? '(erased)' : '')),
        h('td', { class: 'mono' }, entry.target || ''),
        h('td', {}, h('span', { class: entry.outcome === 'ok' ? 'ok' : 'bad' }, entry.outcome || '')),
        h('td', {}, button, ' ', result),
      );
    }

    async function loadHead() {
      const head = await api.get('/api/v1/audit/head');
      replace(headBox, h('dl', { class: 'facts' }, h('dt', {}, 'Log size'), h('dd', { id: 'audit-size' }, String(head.size)), h('dt', {}, 'Root'), h('dd', {}, h('code', {}, head.root)), h('dt', {}, 'Verifier key'), h('dd', {}, h('code', { class: 'wrap' }, head.verifier_key))));
      return head;
    }

    // Entries are read newest first, a window of PAGE log indexes at a time (the log is shared by
    // every tenant: a window may hold few of mine).
    let end = null;
    async function loadOlder() {
      more.disabled = true;
      try {
        if (end === null) end = (await loadHead()).size;
        const start = Math.max(0, end - PAGE);
        const rows = (await api.get(`/api/v1/audit/entries?from=${start}&limit=${PAGE}`)).filter((view) => view.index < end);
        if (disposed) return;
        for (const view of rows.reverse()) body.appendChild(row(view));
        end = start;
        more.hidden = end === 0;
        if (!body.children.length && end === 0) body.appendChild(h('tr', {}, h('td', { colspan: '7', class: 'empty' }, 'No entries.')));
      } catch (error) {
        toast(`Could not load the audit log: ${error.message}`, 'error');
      } finally {
        more.disabled = false;
      }
    }
    more.addEventListener('click', loadOlder);

    loadOlder();
    return {
      unmount() {
        disposed = true;
      },
    };
  },
};
