// Administration screens: members and roles (role, department, disable/enable, their devices),
// the security center (my devices and sessions, two-factor authentication) and the audit log
// with in-browser proof checking.
import * as api from './api.js';
import { h, replace, fullTime, toast, field, select } from './dom.js';
import { t, ht, ta } from './i18n.js';
import { verifyEntry } from './merkle.js';

/** The roles each role may grant, or change a member from (the hub checks it again). */
const GRANTS = { owner: ['owner', 'admin', 'agent', 'viewer', 'auditor'], admin: ['admin', 'agent', 'viewer', 'auditor'] };
/** Roles the "Add a member" form offers (an owner is made by promoting a member). */
const ADD_ROLES = ['agent', 'viewer', 'auditor', 'admin'];
/** Refusals with an explanation of their own (`members.error.<code>`). */
const MEMBER_ERRORS = new Set(['role_not_grantable', 'conflict', 'missing_scope', 'scope_not_grantable', 'member_only', 'not_found']);

const mayChange = (myRole, role) => (GRANTS[myRole] || []).includes(role);

// ---------------------------------------------------------------- members

export const members = {
  mount(root, ctx) {
    const me = ctx.me.member;
    const myRole = me?.role;
    const canWrite = ctx.can('members:write') && Boolean(me);
    const canDevices = ctx.can('security:admin');
    const columns = ['name', 'email', 'role', 'department', 'totp', 'status', 'scopes', 'since'];
    if (canWrite || canDevices) columns.push('actions');
    const body = h('tbody');
    const alert = h('div', { class: 'alert', id: 'members-error', role: 'alert', hidden: true });
    let departments = [];
    let openDevices = null; // the member whose devices are shown
    let addDepartments = null; // the add form's department field
    let disposed = false;
    root.appendChild(
      h(
        'div',
        { class: 'page' },
        h('div', { class: 'pane-head' }, ht('h2', 'members.title')),
        alert,
        h('div', { class: 'table-wrap' }, h('table', { id: 'members' }, h('thead', {}, h('tr', {}, columns.map((column) => ht('th', `members.${column}`)))), body)),
        canWrite ? addForm() : ht('p', 'members.read_only', { class: 'muted' }),
      ),
    );

    const nameOf = (member) => member.display_name || member.email;

    function hideAlert() {
      alert.hidden = true;
      replace(alert);
    }

    /** Says what was refused and why: our explanation, then the hub's status, code and words. */
    function showFailure(what, error) {
      const fromHub = error instanceof api.ApiError;
      const explained = fromHub && MEMBER_ERRORS.has(error.code);
      replace(
        alert,
        h('strong', {}, `${what}: `),
        explained ? t(`members.error.${error.code}`) : error.message,
        fromHub ? h('small', { class: 'detail mono' }, `HTTP ${error.status} ${error.code}${explained ? ` — ${error.message}` : ''}`) : null,
      );
      alert.hidden = false;
      alert.scrollIntoView({ block: 'nearest' });
    }

    /** PATCHes a member; reloads the list (the page, after a change of my own role). */
    async function change(member, patch, doneKey, vars = {}) {
      try {
        await api.patch(`/api/v1/members/${encodeURIComponent(member.id)}`, patch);
      } catch (error) {
        showFailure(t('members.failed', { name: nameOf(member) }), error);
        if (error.status === 404) load();
        return false;
      }
      hideAlert();
      toast(t(doneKey, { name: nameOf(member), ...vars }));
      if (member.id === me?.id && 'role' in patch) location.reload();
      else load();
      return true;
    }

    async function load() {
      try {
        const [list, departmentList] = await Promise.all([ctx.members(true), api.get('/api/v1/departments').catch(() => [])]);
        if (disposed) return;
        departments = departmentList;
        replace(body, [...list.values()].map(row));
        fillAddDepartments();
        const shown = openDevices && list.get(openDevices);
        if (shown) showDevices(shown);
        else openDevices = null;
      } catch (error) {
        replace(body, h('tr', {}, h('td', { colspan: String(columns.length), class: 'form-error' }, error.message)));
      }
    }

    function row(member) {
      const self = member.id === me?.id;
      const changeable = canWrite && mayChange(myRole, member.role);
      return h(
        'tr',
        { dataset: { id: member.id }, class: member.disabled && 'disabled' },
        h('td', {}, member.display_name, self ? ht('span', 'members.you', { class: 'tag' }) : null),
        h('td', {}, member.email),
        h('td', {}, changeable ? roleSelect(member, self) : h('span', { class: ['role', `role-${member.role}`] }, t(`role.${member.role}`))),
        departmentCell(member, changeable),
        h('td', {}, t(member.totp_enabled ? 'members.on' : 'members.off')),
        h('td', { class: 'status' }, member.disabled ? h('span', { class: 'bad' }, t('members.disabled')) : t('members.active')),
        h('td', { class: 'scopes', title: member.scopes.join(' ') }, String(member.scopes.length)),
        h('td', { class: 'nowrap' }, fullTime(member.created_ms)),
        columns.includes('actions') ? actions(member, self, changeable) : null,
      );
    }

    function roleSelect(member, self) {
      const choice = select('role', GRANTS[myRole].map((role) => [role, t(`role.${role}`)]), member.role);
      choice.setAttribute('aria-label', t('members.role'));
      choice.addEventListener('change', async () => {
        const role = choice.value;
        if (self && !confirm(t('members.confirm_self'))) {
          choice.value = member.role;
          return;
        }
        choice.disabled = true;
        if (!(await change(member, { role }, 'members.role_changed', { role: t(`role.${role}`) }))) {
          choice.value = member.role;
          choice.disabled = false;
        }
      });
      return choice;
    }

    function departmentCell(member, changeable) {
      const known = departments.find((department) => department.id === member.department_id);
      if (!changeable || !departments.length) return h('td', {}, known ? known.name : '—');
      const choice = select('department', [['', t('members.no_department')], ...departments.map((department) => [department.id, department.name])], member.department_id || '');
      choice.setAttribute('aria-label', t('members.department'));
      choice.addEventListener('change', async () => {
        choice.disabled = true;
        if (!(await change(member, { department_id: choice.value }, 'members.department_changed'))) {
          choice.value = member.department_id || '';
          choice.disabled = false;
        }
      });
      return h('td', {}, choice);
    }

    /** Disable / enable (each with a confirm step) and the member's devices. */
    function actions(member, self, changeable) {
      const cell = h('td', { class: 'actions' });
      const disabling = !member.disabled;
      const idle = () =>
        replace(
          cell,
          changeable && !self ? h('button', { class: [disabling ? 'danger' : 'primary', 'small'], dataset: { action: disabling ? 'disable' : 'enable' }, on: { click: confirmStep } }, t(disabling ? 'members.disable' : 'members.enable')) : null,
          canDevices && !self ? h('button', { class: 'ghost small', dataset: { action: 'devices' }, 'aria-expanded': String(openDevices === member.id), on: { click: () => toggleDevices(member) } }, t('members.devices')) : null,
        );
      function confirmStep() {
        const reason = h('input', { name: 'reason', maxlength: '200', ...ta('placeholder', 'members.reason') });
        const yes = h('button', { class: [disabling ? 'danger' : 'primary', 'small'], dataset: { confirm: disabling ? 'disable' : 'enable' } }, t(disabling ? 'members.disable' : 'members.enable'));
        const no = h('button', { class: 'ghost small', dataset: { action: 'cancel' }, on: { click: idle } }, t('members.cancel'));
        yes.addEventListener('click', async () => {
          yes.disabled = no.disabled = true;
          const patch = { disabled: disabling };
          if (reason.value.trim()) patch.reason = reason.value.trim();
          if (!(await change(member, patch, disabling ? 'members.now_disabled' : 'members.now_enabled'))) idle();
        });
        replace(cell, h('div', { class: 'confirm stack' }, h('span', {}, t(disabling ? 'members.confirm_disable' : 'members.confirm_enable', { name: nameOf(member) })), reason, h('div', { class: 'buttons' }, yes, no)));
        yes.focus();
      }
      idle();
      return cell;
    }

    function toggleDevices(member) {
      if (openDevices === member.id) {
        openDevices = null;
        body.querySelector('tr.devices-row')?.remove();
      } else {
        openDevices = member.id;
        showDevices(member);
      }
      for (const button of body.querySelectorAll('button[data-action="devices"]')) {
        button.setAttribute('aria-expanded', String(button.closest('tr').dataset.id === openDevices));
      }
    }

    /** The member's devices in a row under theirs: each revocable, or all at once. */
    async function showDevices(member) {
      body.querySelector('tr.devices-row')?.remove();
      const owner = body.querySelector(`tr[data-id="${CSS.escape(member.id)}"]`);
      if (!owner) return;
      const panel = h('div', { class: 'devices-panel stack', id: 'member-devices' }, h('p', { class: 'muted' }, '…'));
      owner.after(h('tr', { class: 'devices-row', dataset: { devicesOf: member.id } }, h('td', { colspan: String(columns.length) }, panel)));
      let list;
      try {
        list = await api.get(`/api/v1/members/${encodeURIComponent(member.id)}/devices`);
      } catch (error) {
        replace(panel, h('p', { class: 'form-error' }, error.message));
        return;
      }
      if (disposed || openDevices !== member.id) return;
      list.sort((a, b) => (a.revoked_ms ? 1 : 0) - (b.revoked_ms ? 1 : 0) || b.last_seen_ms - a.last_seen_ms);
      const live = list.some((device) => !device.revoked_ms);
      replace(
        panel,
        h(
          'div',
          { class: 'row' },
          h('h3', {}, t('members.devices_of', { name: nameOf(member) })),
          h('div', { class: 'buttons' }, live ? h('button', { class: 'danger small', id: 'member-revoke-all', on: { click: () => confirm(t('members.confirm_revoke_all', { name: nameOf(member) })) && revoke(member, null) } }, t('members.revoke_all')) : null, h('button', { class: 'ghost small', on: { click: () => toggleDevices(member) } }, t('members.close'))),
        ),
        list.length
          ? h(
              'table',
              { class: 'devices' },
              h('thead', {}, h('tr', {}, ['device', 'ip', 'last_seen', 'state'].map((column) => ht('th', `members.${column}`)), h('th', {}))),
              h(
                'tbody',
                {},
                list.map((device) =>
                  h(
                    'tr',
                    { dataset: { device: device.id }, class: device.revoked_ms && 'revoked' },
                    h('td', {}, h('div', {}, device.name), h('small', { class: 'muted ua' }, device.user_agent)),
                    h('td', { class: 'mono' }, device.ip),
                    h('td', { class: 'nowrap' }, fullTime(device.last_seen_ms)),
                    h('td', {}, device.revoked_ms ? h('span', { class: 'bad' }, t('members.revoked_at', { time: fullTime(device.revoked_ms) })) : t('members.active')),
                    h('td', {}, device.revoked_ms ? null : h('button', { class: 'danger small', dataset: { revoke: device.id }, on: { click: () => revoke(member, device.id) } }, t('members.revoke'))),
                  ),
                ),
              ),
            )
          : h('p', { class: 'muted' }, t('members.devices_none')),
      );
    }

    async function revoke(member, deviceId) {
      try {
        const { revoked } = await api.post(`/api/v1/members/${encodeURIComponent(member.id)}/devices/revoke`, deviceId ? { device_id: deviceId } : {});
        hideAlert();
        toast(t('members.revoked', { count: revoked, name: nameOf(member) }));
      } catch (error) {
        showFailure(t('members.failed', { name: nameOf(member) }), error);
      }
      if (openDevices === member.id) showDevices(member);
    }

    function fillAddDepartments() {
      if (!addDepartments) return;
      const choice = addDepartments.querySelector('select');
      const keep = choice.value;
      replace(choice, h('option', { value: '' }, t('members.no_department')), departments.map((department) => h('option', { value: department.id }, department.name)));
      choice.value = departments.some((department) => department.id === keep) ? keep : '';
      addDepartments.hidden = !departments.length;
    }

    function addForm() {
      const roles = ADD_ROLES.filter((role) => mayChange(myRole, role)).map((role) => [role, t(`role.${role}.hint`)]);
      addDepartments = field(t('members.department'), select('department_id', [], ''));
      addDepartments.hidden = true;
      const form = h(
        'form',
        { class: 'card stack narrow', id: 'add-member' },
        ht('h3', 'members.add_title'),
        field(t('members.name'), h('input', { name: 'display_name', required: true, maxlength: '100' })),
        field(t('members.email'), h('input', { name: 'email', type: 'email', required: true })),
        field(t('members.role'), select('role', roles, 'agent')),
        addDepartments,
        field(t('members.password'), h('input', { name: 'password', type: 'password', minlength: '10', required: true, autocomplete: 'new-password' }), t('members.password_hint')),
        ht('button', 'members.add', { type: 'submit', class: 'primary' }),
      );
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        const data = new FormData(form);
        const member = {
          display_name: String(data.get('display_name')).trim(),
          email: String(data.get('email')).trim(),
          role: data.get('role'),
          password: String(data.get('password')),
        };
        if (data.get('department_id')) member.department_id = String(data.get('department_id'));
        try {
          await api.post('/api/v1/members', member);
          form.reset();
          hideAlert();
          toast(t('members.added'));
          load();
        } catch (error) {
          showFailure(t('members.add_failed'), error);
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
    let qrUrl = null; // the enrolment's QR code, a blob: URL while it is shown

    function dropQr() {
      if (qrUrl) URL.revokeObjectURL(qrUrl);
      qrUrl = null;
    }
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
      dropQr();
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
      // The QR code comes in this one answer, as an SVG document: shown as an image from a blob:
      // URL (never parsed into the page), and forgotten with the secret.
      dropQr();
      if (enrollment.qr_svg) qrUrl = URL.createObjectURL(new Blob([enrollment.qr_svg], { type: 'image/svg+xml' }));
      const form = h(
        'form',
        { class: 'stack' },
        h('p', {}, 'Scan this QR code with your authenticator app, or type the key below into it; then enter the code it shows.'),
        qrUrl ? h('div', { class: 'qr' }, h('img', { src: qrUrl, id: 'totp-qr', alt: 'QR code of your authenticator key', width: '200', height: '200' })) : null,
        h('p', {}, h('span', { class: 'muted' }, 'Key: '), h('code', { class: 'secret', id: 'totp-secret' }, enrollment.secret.replace(/(.{4})/g, '$1 ').trim())),
        h('details', {}, h('summary', {}, 'otpauth link'), h('code', { class: 'wrap' }, enrollment.otpauth_uri)),
        field('Code', code),
        h('button', { class: 'primary', type: 'submit' }, 'Confirm'),
      );
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        try {
          const { recovery_codes: codes } = await api.post('/api/v1/auth/totp/confirm', { code: code.value.trim() });
          dropQr();
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
        dropQr();
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
