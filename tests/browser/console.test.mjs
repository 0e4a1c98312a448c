// The hub console in a real browser: sign-in with password and TOTP, a WhatsApp (WPPConnect)
// message arriving live with its lead score, a reply sent once through a fake WPPConnect server
// and turning "sent", a hostile message rendered as text, a device revoked from the security
// center, members managed (role, devices, disable/enable), two-factor enrolment with its QR code,
// the EN/PT switch, the audit log verified in the browser, and screenshots of every screen.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createHmac } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startOmega, runOmega, tempDir, launchBrowser, newPerson, screenshot, eventually, cleanup, onCleanup, repo } from './lib.mjs';

after(cleanup);

const PASSWORD = 'correct horse battery staple';
const OWNER = 'owner@acme.test';
const SESSION = 'loja';
const WPP_TOKEN = 'FAKE-WPP-BEARER';
const XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>';
const fixtures = path.join(repo, 'crates', 'omega-channels', 'tests', 'fixtures', 'wppconnect');

// ------------------------------------------------------------------ TOTP (RFC 6238)

/** RFC 4648 base32 (no padding), as the hub encodes the TOTP secret. */
function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const char of text.replace(/=+$/, '').toUpperCase()) {
    const index = alphabet.indexOf(char);
    if (index < 0) throw new Error(`not base32: ${char}`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** HOTP (RFC 4226) of `counter`: HMAC-SHA1, dynamic truncation, 6 digits. */
function hotp(key, counter) {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const digest = createHmac('sha1', key).update(message).digest();
  const offset = digest[digest.length - 1] & 0x0f;
  const binary = digest.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 1_000_000).padStart(6, '0');
}

/**
 * Codes of a TOTP secret, each for a fresh 30 s step (the hub refuses a step it has seen, and
 * accepts the current step ±1): the earliest usable step, waiting for the clock when needed.
 */
function totpSource(secret) {
  const key = base32Decode(secret);
  let last = -1;
  return async function next() {
    for (;;) {
      const now = Date.now() / 1000;
      const step = Math.floor(now / 30);
      // The previous step is safe only well before the current one ends.
      const earliest = now % 30 < 25 ? step - 1 : step;
      const use = Math.max(last + 1, earliest);
      if (use <= step + 1) {
        last = use;
        return hotp(key, use);
      }
      await new Promise((resolve) => setTimeout(resolve, ((step + 1) * 30 - now) * 1000 + 200));
    }
  };
}

// RFC 6238 appendix B (SHA-1): the helper above is the algorithm the hub implements.
test('TOTP helper matches the RFC 6238 test vectors', () => {
  const key = Buffer.from('12345678901234567890');
  assert.equal(hotp(key, Math.floor(59 / 30)), '287082');
  assert.equal(hotp(key, Math.floor(1111111109 / 30)), '081804');
  assert.equal(hotp(key, Math.floor(1234567890 / 30)), '005924');
  assert.equal(base32Decode('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ').toString(), '12345678901234567890');
});

// ------------------------------------------------------------------ a fake WPPConnect server

/** WPPConnect's REST API as the hub calls it (shapes from fixtures/connectors/wppconnect). */
async function fakeWppConnect() {
  const sendFixture = JSON.parse(readFileSync(path.join(fixtures, 'rest_send_message.json'), 'utf8'));
  const state = { connected: false, sent: [], calls: [], qr: '2@FAKEQRCODE,Zm9vYmFy,YmF6cXV4,AAAA' };
  const server = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      state.calls.push(`${request.method} ${request.url}`);
      const reply = (status, value) => {
        response.writeHead(status, { 'Content-Type': 'application/json' });
        response.end(JSON.stringify(value));
      };
      if (request.headers.authorization !== `Bearer ${WPP_TOKEN}`) {
        return reply(401, { error: 'Check that the Session and Token are correct' });
      }
      const route = `${request.method} ${request.url}`;
      const status = () =>
        state.connected
          ? { status: 'CONNECTED', qrcode: null, urlcode: null, version: '2.10.4' }
          : { status: 'QRCODE', qrcode: 'data:image/png;base64,iVBORw0KGgo=', urlcode: state.qr, version: '2.10.4' };
      if (route === `POST /api/${SESSION}/start-session` || route === `GET /api/${SESSION}/status-session`) {
        return reply(200, status());
      }
      if (route === `POST /api/${SESSION}/logout-session`) {
        state.connected = false;
        return reply(200, { status: true, message: 'Session successfully closed' });
      }
      if (route === `POST /api/${SESSION}/send-message`) {
        if (!state.connected) return reply(404, sendFixture.error_session_not_active.body);
        const sent = JSON.parse(body);
        state.sent.push(sent);
        const answer = structuredClone(sendFixture.response.body);
        const message = answer.response[0];
        const chat = `${sent.phone}@c.us`;
        message.id = `true_${chat}_3EB0${String(state.sent.length).padStart(18, '0')}`;
        message.body = message.content = sent.message;
        message.to = message.chatId = chat;
        message.t = message.timestamp = Math.floor(Date.now() / 1000);
        return reply(201, answer);
      }
      reply(404, { error: `no route ${route}` });
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(
    () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(resolve);
      }),
  );
  return { state, url: `http://127.0.0.1:${server.address().port}` };
}

// ------------------------------------------------------------------ the hub

async function startHub() {
  const dataDir = tempDir('omega-console-');
  // Short-lived access tokens (the minimum, 60 s), so the test sees the console refresh one.
  const env = { OMEGA_HUB_OWNER_PASSWORD: PASSWORD, OMEGA_HUB_CFG_AUTH_ACCESS_TTL_SECS: '60' };
  // Fast connector session polling, so the session's "connected" shows within a second.
  mkdirSync(path.join(dataDir, 'hub'), { recursive: true });
  writeFileSync(path.join(dataDir, 'hub', 'hub.toml'), '[connectors]\npoll_interval_ms = 300\nbackoff_base_ms = 100\nbackoff_max_ms = 500\n');
  await runOmega(['--data-dir', dataDir, 'hub', 'admin', 'create-tenant', '--slug', 'acme', '--name', 'Acme Ltda', '--owner-email', OWNER, '--plan', 'pro'], { env });
  const hub = await startOmega(['--data-dir', dataDir, '--json', 'hub', '--http', '127.0.0.1:0'], { env });
  assert.equal(hub.first.event, 'started', JSON.stringify(hub.first));
  return hub.first.http;
}

function client(base) {
  return async function call(method, urlPath, { token, body, headers = {} } = {}) {
    const init = { method, headers: { ...headers } };
    if (token) init.headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
    }
    const response = await fetch(base + urlPath, init);
    const text = await response.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch {}
    return { status: response.status, body: json ?? text };
  };
}

function webhookBody({ phone, name, id, text }) {
  const body = JSON.parse(readFileSync(path.join(fixtures, 'onmessage_text_private.json'), 'utf8'));
  const jid = `${phone}@c.us`;
  const now = Math.floor(Date.now() / 1000);
  Object.assign(body, { id: `false_${jid}_${id}`, from: jid, chatId: jid, body: text, content: text, notifyName: name, t: now, timestamp: now, session: SESSION });
  Object.assign(body.sender, { id: jid, pushname: name, formattedName: name });
  return JSON.stringify(body);
}

// ------------------------------------------------------------------ the test

test('the hub console, end to end in Chromium', { timeout: 240_000 }, async () => {
  const base = await startHub();
  const call = client(base);
  const wpp = await fakeWppConnect();

  // The owner turns on TOTP through the API.
  const first = await call('POST', '/api/v1/auth/login', { body: { tenant: 'acme', email: OWNER, password: PASSWORD, device_name: 'setup script' } });
  assert.equal(first.status, 200, JSON.stringify(first.body));
  const setupToken = first.body.access_token;
  const enrollment = await call('POST', '/api/v1/auth/totp/enroll', { token: setupToken });
  assert.equal(enrollment.status, 200, JSON.stringify(enrollment.body));
  const totp = totpSource(enrollment.body.secret);
  const confirmed = await call('POST', '/api/v1/auth/totp/confirm', { token: setupToken, body: { code: await totp() } });
  assert.equal(confirmed.status, 200, JSON.stringify(confirmed.body));

  // A WPPConnect channel whose credentials point at the fake.
  const created = await call('POST', '/api/v1/channels', { token: setupToken, body: { kind: 'whatsapp-wppconnect', name: 'Vendas' } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const channel = created.body;
  const credentials = await call('PUT', `/api/v1/channels/${channel.id}/credentials`, {
    token: setupToken,
    body: { kind: 'wpp_connect', base_url: wpp.url, session: SESSION, token: WPP_TOKEN },
  });
  assert.equal(credentials.status, 204, JSON.stringify(credentials.body));
  const webhook = (message) =>
    call('POST', channel.webhook_path, { body: webhookBody(message), headers: { 'X-Omega-Webhook-Token': channel.webhook_token } });

  const browser = await launchBrowser();
  const page = await browser.newPage();
  await page.setViewportSize({ width: 1360, height: 860 });
  const consoleErrors = [];
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(String(error)));
  const replyRequests = [];
  page.on('request', (request) => {
    if (request.method() === 'POST' && /\/api\/v1\/conversations\/[^/]+\/messages$/.test(new URL(request.url()).pathname)) {
      replyRequests.push(request.headers()['idempotency-key']);
    }
  });

  // ---- sign-in: the root redirects to the console; a password alone is refused with a clear
  // error asking for the code; then password + TOTP.
  await page.goto(base + '/');
  assert.equal(new URL(page.url()).pathname, '/console/');
  await page.waitForSelector('#login-form');
  await screenshot(page, 'console-login');
  await page.fill('#login-tenant', 'acme');
  await page.fill('#login-email', OWNER);
  await page.fill('#login-password', PASSWORD);
  await page.click('#login-submit');
  await page.waitForSelector('.form-error:not([hidden])');
  assert.match(await page.textContent('.form-error'), /two-factor/);
  await page.fill('#login-totp', await totp());
  await page.click('#login-submit');
  await page.waitForSelector('#nav-inbox');
  await page.waitForSelector('#live[data-state="live"]');
  await page.evaluate(() => {
    window.__noReload = true;
  });
  const storedAccess = () => page.evaluate(() => JSON.parse(sessionStorage.getItem('omega.console.session') || '{}').access);
  const firstAccess = await storedAccess();
  assert.ok(firstAccess, 'the access token is kept in sessionStorage');

  // The console's own SSE parser (the stream is read with fetch, not EventSource): CRLF and CR line
  // ends, multi-line data, comments, and chunks split anywhere, even inside a CRLF.
  const parsed = await page.evaluate(async () => {
    const { SseParser } = await import('/console/api.js');
    const events = [];
    const parser = new SseParser((event) => events.push(event));
    const stream = ': keep-alive\r\nevent: message.new\r\ndata: {"a":\r\ndata: 1}\r\n\r\ndata:plain\r\rid: 7\nevent: end\ndata: {}\n\n';
    for (let i = 0; i < stream.length; i += 3) parser.push(stream.slice(i, i + 3));
    return events;
  });
  assert.deepEqual(parsed, [
    { event: 'message.new', data: '{"a":\n1}', id: null },
    { event: 'message', data: 'plain', id: null },
    { event: 'end', data: '{}', id: '7' },
  ]);

  // ---- the channel: its QR code is an image, then the phone "scans" it.
  await page.click('#nav-channels');
  await page.click(`#channel-list li[data-id="${channel.id}"] a`);
  await page.waitForSelector('#qr-image');
  await eventually('the QR image to load', () => page.$eval('#qr-image', (img) => img.complete && img.naturalWidth > 0));
  assert.ok(await page.$('#diagnostics tbody tr'), 'a diagnostic log');
  assert.equal(await page.$eval('#cred-token', (input) => input.value), '', 'secrets are never shown back');
  await screenshot(page, 'console-channels');
  wpp.state.connected = true;
  await page.waitForSelector('#session-state[data-state="connected"]', { timeout: 30_000 });

  // ---- a WhatsApp message arrives: it appears live with a lead score.
  await page.click('#nav-inbox');
  await page.waitForSelector('#conversations');
  const hooked = await webhook({ phone: '5511999990001', name: 'Maria Exemplo', id: 'A1', text: 'Olá! Quanto custa? Quero comprar 2 unidades hoje, aceita pix?' });
  assert.equal(hooked.status, 200, JSON.stringify(hooked.body));
  const maria = await page.waitForSelector('#conversations li.conv:has-text("Maria Exemplo")');
  await page.waitForSelector('#conversations li.conv:has-text("Maria Exemplo") .score:not(.none)');
  const score = Number(await page.textContent('#conversations li.conv:has-text("Maria Exemplo") .score'));
  assert.ok(score > 20, `a buying message scores above the starting 20: ${score}`);
  assert.ok(await maria.evaluate((node) => node.classList.contains('unread')), 'unread until opened');
  assert.ok(await page.evaluate(() => window.__noReload), 'no reload happened');
  assert.match(await page.textContent('#conversations li.conv:has-text("Maria Exemplo") .channel-badge'), /whatsapp/i);
  await screenshot(page, 'console-inbox');

  // ---- open it: the messages, the lead panel, then a reply.
  await page.click('#conversations li.conv:has-text("Maria Exemplo") a');
  await page.waitForSelector('#messages .msg.in:has-text("Quanto custa")');
  await page.waitForSelector('#lead-score');
  assert.equal(Number(await page.textContent('#lead-score')), score);
  assert.ok((await page.textContent('#lead-next')).trim().length > 0, 'a next-action suggestion');
  await page.waitForSelector('#lead-reasons li');
  await page.click('#assign');
  await page.waitForSelector('#assignee:has-text("You")');
  const replyText = 'Olá Maria! Custa R$ 10, e aceitamos pix.';
  await page.fill('#reply-text', replyText);
  await page.click('#reply-send');
  await page.waitForSelector(`#messages .msg.out:has-text("${replyText}")`);
  await page.waitForSelector(`#messages .msg.out[data-status="sent"]:has-text("${replyText}")`, { timeout: 30_000 });
  await screenshot(page, 'console-conversation');
  // Sent exactly once, even after the dust settles.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  assert.equal(wpp.state.sent.length, 1, JSON.stringify(wpp.state.sent));
  assert.equal(wpp.state.sent[0].message, replyText);
  assert.equal(wpp.state.sent[0].phone, '5511999990001');
  assert.equal(replyRequests.length, 1);
  assert.match(replyRequests[0] || '', /^[0-9a-f-]{36}$/, 'the reply carries an Idempotency-Key');

  // A second reply uses a fresh key.
  await page.fill('#reply-text', 'Posso reservar?');
  await page.press('#reply-text', 'Enter');
  await page.waitForSelector('#messages .msg.out[data-status="sent"]:has-text("Posso reservar?")', { timeout: 30_000 });
  assert.equal(replyRequests.length, 2);
  assert.notEqual(replyRequests[0], replyRequests[1]);
  assert.equal(wpp.state.sent.length, 2);

  // A reply the source refuses (the WhatsApp session dropped: 404) turns "failed", live.
  wpp.state.connected = false;
  await page.fill('#reply-text', 'Esta não vai sair');
  await page.click('#reply-send');
  await page.waitForSelector('#messages .msg.out[data-status="failed"]:has-text("Esta não vai sair")', { timeout: 30_000 });
  assert.equal(wpp.state.sent.length, 2);
  wpp.state.connected = true;

  // ---- a hostile message is text, and scripts in it never run.
  await webhook({ phone: '5511999990002', name: '<b>Mallory</b>', id: 'X1', text: XSS });
  await page.waitForSelector('#conversations li.conv:has-text("<b>Mallory</b>")');
  await page.click('#conversations li.conv:has-text("<b>Mallory</b>") a');
  const hostile = await page.waitForSelector('#messages .msg.in .text');
  assert.equal(await hostile.textContent(), XSS);
  assert.equal(await page.$('#messages img, #messages script, #conversations img, #conversations b'), null);
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  assert.equal(await page.textContent('#conv-title'), '<b>Mallory</b>');

  // ---- while another conversation is open, Maria writes again: her conversation moves to the
  // top, unread.
  await webhook({ phone: '5511999990001', name: 'Maria Exemplo', id: 'A2', text: 'Pode reservar sim, obrigada!' });
  await page.waitForSelector('#conversations li.conv.unread:first-child:has-text("Maria Exemplo")');
  await page.waitForSelector('#nav-inbox .badge:has-text("1")');

  // ---- the filters: assigned to me is Maria only; unassigned is Mallory only.
  await page.selectOption('#filter-assignee', 'me');
  await eventually('the "me" filter', async () => (await page.$$eval('#conversations li.conv', (items) => items.map((i) => i.textContent))).join('|').includes('Maria') && (await page.$$('#conversations li.conv')).length === 1);
  await page.selectOption('#filter-assignee', 'none');
  await eventually('the "unassigned" filter', async () => (await page.$$eval('#conversations li.conv', (items) => items.map((i) => i.textContent))).join('|').includes('Mallory') && (await page.$$('#conversations li.conv')).length === 1);
  await page.selectOption('#filter-assignee', 'any');
  await page.fill('#filter-score', String(score));
  await eventually('the score filter', async () => (await page.$$('#conversations li.conv')).length === 1);
  await page.fill('#filter-score', '');
  await eventually('no filter', async () => (await page.$$('#conversations li.conv')).length === 2);

  // ---- dashboard.
  await page.click('#nav-dashboard');
  await page.waitForSelector('#chart-messages svg rect.bar');
  await page.waitForSelector('#chart-scores svg rect.bar');
  assert.equal(await page.textContent('#stat-inbound'), '3');
  assert.equal(await page.textContent('#stat-outbound'), '3');
  await screenshot(page, 'console-dashboard');

  // ---- members.
  await page.click('#nav-members');
  await page.waitForSelector(`#members td:has-text("${OWNER}")`);
  await page.fill('#add-member input[name="display_name"]', 'Ana Agente');
  await page.fill('#add-member input[name="email"]', 'ana@acme.test');
  await page.selectOption('#add-member select[name="role"]', 'agent');
  await page.fill('#add-member input[name="password"]', 'another long password');
  await page.click('#add-member button[type="submit"]');
  await page.waitForSelector('#members td:has-text("ana@acme.test")');
  const ANA_PASSWORD = 'another long password';
  const anaId = await page.getAttribute('#members tr:has-text("ana@acme.test")', 'data-id');
  const anaRow = `#members tr[data-id="${anaId}"]`;
  const anaLogin = () => call('POST', '/api/v1/auth/login', { body: { tenant: 'acme', email: 'ana@acme.test', password: ANA_PASSWORD, device_name: 'Ana script' } });

  // Her role changes from her row; her own credential sees it.
  await page.selectOption(`${anaRow} select[name="role"]`, 'viewer');
  await page.waitForSelector(`${anaRow} select[name="role"]:not([disabled])`);
  await eventually('the new role in the list', () => page.$eval(`${anaRow} select[name="role"]`, (choice) => choice.value === 'viewer'));
  const anaFirst = await anaLogin();
  assert.equal(anaFirst.status, 200, JSON.stringify(anaFirst.body));
  const anaMe = await call('GET', '/api/v1/me', { token: anaFirst.body.access_token });
  assert.equal(anaMe.body.member.role, 'viewer');
  assert.deepEqual([...anaMe.body.scopes].sort(), ['contacts:read', 'inbox:read', 'leads:read']);

  // The last owner stepping down is refused: the hub's 409 is shown, the role stays.
  page.once('dialog', (dialog) => dialog.accept());
  await page.selectOption(`#members tr:has-text("${OWNER}") select[name="role"]`, 'admin');
  await page.waitForSelector('#members-error:not([hidden])');
  assert.match(await page.textContent('#members-error'), /at least one active owner.*HTTP 409 conflict/s);
  assert.equal(await page.$eval(`#members tr:has-text("${OWNER}") select[name="role"]`, (choice) => choice.value), 'owner');
  await screenshot(page, 'console-members');

  // Her devices: the script's sign-in is listed, revoked from here, and refused at once.
  await page.click(`${anaRow} button[data-action="devices"]`);
  const anaDevice = `#member-devices tr[data-device="${anaFirst.body.device_id}"]`;
  await page.waitForSelector(anaDevice);
  assert.match(await page.textContent(anaDevice), /Ana script/);
  await page.click(`${anaDevice} button[data-revoke]`);
  await page.waitForSelector(`#member-devices tr.revoked[data-device="${anaFirst.body.device_id}"]`);
  assert.equal((await call('GET', '/api/v1/me', { token: anaFirst.body.access_token })).body.error.code, 'device_revoked');
  await screenshot(page, 'console-member-devices');

  // ---- Ana, in her own browser, signs in in Portuguese and starts two-factor enrolment: the QR
  // code is an image (an SVG from the enrol answer, shown through a blob: URL).
  const anaBrowser = await newPerson();
  const anaPage = await anaBrowser.newPage();
  await anaPage.setViewportSize({ width: 1100, height: 860 });
  await anaPage.goto(base + '/console/');
  await anaPage.waitForSelector('#login-form');
  await anaPage.click('#login-lang');
  assert.equal(await anaPage.textContent('#login-submit'), 'Entrar');
  assert.equal(await anaPage.evaluate(() => document.documentElement.lang), 'pt-BR');
  await anaPage.fill('#login-tenant', 'acme');
  await anaPage.fill('#login-email', 'ana@acme.test');
  await anaPage.fill('#login-password', ANA_PASSWORD);
  await anaPage.click('#login-submit');
  await anaPage.waitForSelector('#nav-security');
  assert.equal(await anaPage.textContent('#nav-inbox [data-i18n]'), 'Caixa de entrada', 'the language chosen at sign-in stays');
  await anaPage.waitForSelector('#filter-assignee');
  assert.equal(await anaPage.textContent('#filter-assignee option[value="me"]'), 'Atribuídas a mim');
  await anaPage.click('#nav-security');
  await anaPage.click('#totp-enroll');
  await anaPage.waitForSelector('#totp-qr');
  await eventually('the 2FA QR image to load', () => anaPage.$eval('#totp-qr', (img) => img.complete && img.naturalWidth > 0));
  assert.match(await anaPage.getAttribute('#totp-qr', 'src'), /^blob:/);
  assert.match((await anaPage.textContent('#totp-secret')).replace(/\s+/g, ''), /^[A-Z2-7]{16,}$/, 'the key as text too');
  await screenshot(anaPage, 'console-totp-enrol');

  // ---- the owner disables her (a confirm step first): her console is signed out and her
  // sign-in refused; enabled again, she signs in.
  await page.click(`${anaRow} button[data-action="disable"]`);
  await page.fill(`${anaRow} input[name="reason"]`, 'on leave');
  await screenshot(page, 'console-members-confirm');
  await page.click(`${anaRow} button[data-confirm="disable"]`);
  await page.waitForSelector(`${anaRow}.disabled button[data-action="enable"]`);
  const refusedAna = await anaLogin();
  assert.equal(refusedAna.status, 403, JSON.stringify(refusedAna.body));
  assert.equal(refusedAna.body.error.code, 'member_disabled');
  await anaPage.click('#nav-inbox');
  await anaPage.waitForSelector('#login-form');
  assert.match(await anaPage.textContent('.login .notice'), /revogada/);
  // (A department appears meanwhile: the list shows it at its next load.)
  const department = await page.evaluate(async () => (await import('/console/api.js')).post('/api/v1/departments', { name: 'Vendas' }));
  await page.click(`${anaRow} button[data-action="enable"]`);
  await page.click(`${anaRow} button[data-confirm="enable"]`);
  await page.waitForSelector(`${anaRow}:not(.disabled) button[data-action="disable"]`);
  const anaBack = await anaLogin();
  assert.equal(anaBack.status, 200, JSON.stringify(anaBack.body));

  // Her department, from her row.
  await page.selectOption(`${anaRow} select[name="department"]`, department.id);
  await eventually('her department', async () => (await call('GET', '/api/v1/me', { token: anaBack.body.access_token })).body.member.department_id === department.id);

  // ---- the EN/PT switch relabels the console, and is remembered.
  await page.click('#lang');
  assert.equal(await page.textContent('#nav-inbox [data-i18n]'), 'Caixa de entrada');
  assert.equal(await page.textContent('#nav-members [data-i18n]'), 'Membros');
  await page.waitForSelector('#members');
  assert.equal(await page.textContent('.screen-members h2'), 'Membros e funções');
  assert.equal(await page.textContent('#logout'), 'Sair');
  assert.equal(await page.evaluate(() => localStorage.getItem('omega.console.lang')), 'pt');
  await screenshot(page, 'console-members-pt');
  await page.click('#lang');
  assert.equal(await page.textContent('#nav-inbox [data-i18n]'), 'Inbox');
  await page.waitForSelector('#members td:has-text("ana@acme.test")');

  // ---- security center: a second session, revoked from here, gets 401 at once.
  const second = await call('POST', '/api/v1/auth/login', { body: { tenant: 'acme', email: OWNER, password: PASSWORD, totp_code: await totp(), device_name: 'Second laptop' } });
  assert.equal(second.status, 200, JSON.stringify(second.body));
  const secondToken = second.body.access_token;
  assert.equal((await call('GET', '/api/v1/me', { token: secondToken })).status, 200);
  await page.click('#nav-security');
  const row = await page.waitForSelector(`#devices tr[data-id="${second.body.device_id}"]`);
  assert.match(await row.textContent(), /Second laptop/);
  assert.ok(await page.$('#devices tr.current'), 'this browser is marked as the current device');
  await row.$eval('button[data-revoke]', (button) => button.click());
  await page.waitForSelector(`#devices tr.revoked[data-id="${second.body.device_id}"]`);
  const refused = await call('GET', '/api/v1/me', { token: secondToken });
  assert.equal(refused.status, 401);
  assert.equal(refused.body.error.code, 'device_revoked');
  await screenshot(page, 'console-security');

  // ---- audit: verify an entry's inclusion in the signed log, in the browser.
  await page.click('#nav-audit');
  await page.waitForSelector('#audit tbody tr button.verify');
  await page.click('#audit tbody tr:first-child button.verify');
  await page.waitForSelector('#audit tbody tr:first-child :is(.verdict.ok, .verdict.bad)', { timeout: 15_000 });
  assert.match(await page.textContent('#audit tbody tr:first-child .verdict'), /^OK/);
  assert.doesNotMatch(await page.textContent('#audit tbody tr:first-child .verdict'), /not checked/, 'Chromium checks the Ed25519 signature');
  // An older entry verifies as well; a tampered entry or root does not.
  await page.click('#audit tbody tr:last-child button.verify');
  await page.waitForSelector('#audit tbody tr:last-child :is(.verdict.ok, .verdict.bad)', { timeout: 15_000 });
  assert.match(await page.textContent('#audit tbody tr:last-child .verdict'), /^OK/);
  const tampered = await page.evaluate(async () => {
    const merkle = await import('/console/merkle.js');
    const api = await import('/console/api.js');
    const entries = await api.get('/api/v1/audit/entries?from=0&limit=1000');
    const head = await api.get('/api/v1/audit/head');
    const proof = await api.get(`/api/v1/audit/proof/inclusion?index=${entries.at(-1).index}&size=${head.size}`);
    const good = await merkle.verifyEntry(head, proof);
    const badEntry = await merkle.verifyEntry(head, { ...proof, entry: proof.entry + ' ' });
    const badRoot = await merkle.verifyEntry({ ...head, root: merkle.bytesToBase64(new Uint8Array(32)) }, proof);
    const badSignature = await merkle.verifyEntry({ ...head, checkpoint: head.checkpoint.replace(`\n${head.size}\n`, `\n${head.size + 1}\n`) }, proof);
    return { good: good.ok, badEntry: badEntry.ok, badRoot: badRoot.ok, badSignature: badSignature.ok };
  });
  assert.deepEqual(tampered, { good: true, badEntry: false, badRoot: false, badSignature: false });
  await screenshot(page, 'console-audit');

  // ---- dark mode at a phone's width.
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.click('#nav-inbox');
  await page.waitForSelector('#conversations li.conv');
  await screenshot(page, 'console-inbox-narrow-dark');
  await page.click('#conversations li.conv:has-text("Maria Exemplo") a');
  await page.waitForSelector('#messages .msg.out');
  assert.ok(await page.isVisible('.conv-header .back'), 'a way back to the list on a phone');
  assert.ok(!(await page.isVisible('#conversations')), 'the list gives way to the conversation');
  await screenshot(page, 'console-conversation-narrow-dark');
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize({ width: 1360, height: 860 });

  // ---- the access token (60 s here) is refreshed before it expires, and the console goes on.
  await eventually('the console to refresh its access token', async () => (await storedAccess()) !== firstAccess, 70_000);
  await page.click('#nav-dashboard');
  await page.click('#nav-inbox');
  await page.waitForSelector('#conversations li.conv:has-text("Maria Exemplo")');
  await webhook({ phone: '5511999990003', name: 'Após Refresh', id: 'R1', text: 'Oi, ainda estão abertos?' });
  await page.waitForSelector('#conversations li.conv:has-text("Após Refresh")', { timeout: 30_000 });

  // ---- revoking the current device signs this browser out.
  await page.click('#nav-security');
  page.once('dialog', (dialog) => dialog.accept());
  const current = await page.waitForSelector('#devices tr.current button[data-revoke]');
  await current.click();
  await page.waitForSelector('#login-form');
  assert.match(await page.textContent('.login .notice'), /revoked/);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('omega.console.session')), null);

  assert.deepEqual(consoleErrors.filter((text) => !/401|Failed to load resource/.test(text)), []);
});
