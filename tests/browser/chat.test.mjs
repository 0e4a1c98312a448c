// The node's web chat in real browsers: two people (Alice and Bob), each with a running node and
// a separate Chromium profile logged in through `omega open --json`, chat with each other.
// The tests in this file run in order and share the people set up in `before`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  cleanup,
  eventually,
  launchBrowser,
  runOmega,
  screenshot,
  startOmega,
  tempDir,
} from './lib.mjs';

after(cleanup);

const PASSPHRASE = 'browser chat test passphrase';
const WAIT = { timeout: 30_000 };

/** A person: an identity, a running node, their card. */
async function person(name) {
  const dir = tempDir(`omega-${name.toLowerCase()}-`);
  // No $BROWSER: `omega open` must only print the link here.
  const env = { OMEGA_PASSPHRASE: PASSPHRASE, BROWSER: '' };
  await runOmega(['--data-dir', dir, 'init', '--name', name], { env });
  const node = await startOmega(
    ['--data-dir', dir, '--json', 'node', '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns'],
    { env },
  );
  assert.equal(node.first.event, 'started');
  const card = (await runOmega(['--data-dir', dir, 'id', '--card'], { env })).trim();
  const omega = (...args) => runOmega(['--data-dir', dir, ...args], { env });
  return { name, dir, env, omega, card, userId: node.first.user_id, api: node.first.api };
}

/** A fresh login link from `omega open --json`. */
async function loginUrl(who) {
  const { url } = JSON.parse(await who.omega('--json', 'open'));
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/login\?code=[0-9a-f]{32}$/);
  return url;
}

/** Their own browser, logged in to their node; resolves with the page. */
async function logIn(who) {
  const url = await loginUrl(who);
  const browser = await launchBrowser();
  const page = browser.pages()[0] ?? (await browser.newPage());
  await page.setViewportSize({ width: 1100, height: 760 });
  await page.goto(url);
  await page.locator('#app').waitFor({ state: 'visible', ...WAIT });
  assert.equal(new URL(page.url()).pathname, '/', 'the login link redirects to the chat');
  who.browser = browser;
  who.page = page;
  who.usedUrl = url;
  return page;
}

const conversationItem = (page, userId) => page.locator(`#conversations li[data-user-id="${userId}"]`);

async function send(page, text) {
  const box = page.locator('#composer-text');
  await box.fill(text);
  await box.press('Enter');
  await page.waitForFunction(() => document.getElementById('composer-text').value === '', null, WAIT);
}

const lastOut = (page) => page.locator('#messages .message.out').last();

let alice;
let bob;
let carol;

before(async () => {
  [alice, bob, carol] = await Promise.all([person('Alice'), person('Bob'), person('Carol')]);
  await alice.omega('contact', 'add', bob.card, '--alias', 'bob');
  await bob.omega('contact', 'add', alice.card, '--alias', 'alice');
});

test('omega open gives a one-time link that logs a browser in without the API token', async () => {
  const page = await logIn(alice);
  await logIn(bob);
  await page.locator('#me-name').filter({ hasText: 'Alice' }).waitFor(WAIT);
  const cookies = await alice.browser.cookies();
  const session = cookies.find((cookie) => cookie.name === 'omega_session');
  assert.ok(session, 'a session cookie is set');
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Strict');
  assert.equal(await page.evaluate(() => document.cookie), '', 'scripts cannot read the cookie');
  const { token } = JSON.parse(readFileSync(path.join(alice.dir, 'api.json'), 'utf8'));
  const html = await page.content();
  assert.ok(!html.includes(token), 'the page never holds the API token');
  await conversationItem(page, bob.userId).waitFor(WAIT);
  await screenshot(page, 'chat-alice-list');
});

test('a used login link shows an error page telling to run omega open again', async () => {
  const stranger = await launchBrowser();
  const page = await stranger.newPage();
  const response = await page.goto(alice.usedUrl);
  assert.equal(response.status(), 401);
  assert.match(await page.textContent('body'), /omega open/);
  await screenshot(page, 'chat-login-link-used');

  await page.goto(new URL('/', alice.api).href);
  await page.locator('#login-needed').waitFor({ state: 'visible', ...WAIT });
  assert.match(await page.textContent('#login-needed'), /omega open/);
  assert.equal(await page.locator('#app').isVisible(), false);
  await screenshot(page, 'chat-login-needed');
});

test('a message sent from one page appears live on the other with an unread badge', async () => {
  assert.equal(await bob.page.evaluate(() => document.visibilityState), 'visible');
  const bobsView = bob.page.url();
  await conversationItem(alice.page, bob.userId).locator('button').click();
  await alice.page.locator('#chat-view').waitFor({ state: 'visible', ...WAIT });
  await send(alice.page, 'Hello Bob, this is Alice');
  await lastOut(alice.page).waitFor(WAIT);

  const aliceOnBobsPage = conversationItem(bob.page, alice.userId);
  await aliceOnBobsPage.locator('.unread').filter({ hasText: /^1$/ }).waitFor(WAIT);
  assert.match(await aliceOnBobsPage.locator('.preview').textContent(), /Hello Bob, this is Alice/);
  assert.equal(bob.page.url(), bobsView, 'no reload happened');
  assert.equal(await bob.page.locator('#chat-view').isVisible(), false, 'Bob has no conversation open');
  await screenshot(bob.page, 'chat-bob-unread-badge');
});

test('the sender sees delivered, then read once the other person opens the conversation', async () => {
  await lastOut(alice.page).locator('.tick[data-status="delivered"]').waitFor(WAIT);
  assert.equal(await lastOut(alice.page).locator('.tick').textContent(), '✓✓');
  await screenshot(alice.page, 'chat-alice-delivered');

  await conversationItem(bob.page, alice.userId).locator('button').click();
  await bob.page
    .locator('#messages .message.in .text')
    .filter({ hasText: 'Hello Bob, this is Alice' })
    .waitFor(WAIT);
  await conversationItem(bob.page, alice.userId).locator('.unread').waitFor({ state: 'detached', ...WAIT });

  await lastOut(alice.page).locator('.tick[data-status="read"]').waitFor(WAIT);
  const tickColor = await lastOut(alice.page)
    .locator('.tick')
    .evaluate((node) => getComputedStyle(node).color);
  const accent = await alice.page.evaluate(() => {
    const probe = document.createElement('span');
    probe.style.color = 'var(--read)';
    document.body.append(probe);
    const color = getComputedStyle(probe).color;
    probe.remove();
    return color;
  });
  assert.equal(tickColor, accent, 'a read tick is in the accent colour');
  await screenshot(alice.page, 'chat-alice-read');
});

test('a reply with Shift+Enter line breaks reaches the first page live', async () => {
  const box = bob.page.locator('#composer-text');
  await box.click();
  await box.pressSequentially('Hi Alice!');
  await box.press('Shift+Enter');
  await box.pressSequentially('Second line.');
  assert.equal(await box.inputValue(), 'Hi Alice!\nSecond line.', 'Shift+Enter adds a line');
  await box.press('Enter');
  await bob.page.waitForFunction(() => document.getElementById('composer-text').value === '', null, WAIT);

  // Alice has the conversation open and visible, so it is read at once and Bob sees it.
  const reply = alice.page.locator('#messages .message.in .text').last();
  await reply.filter({ hasText: 'Second line.' }).waitFor(WAIT);
  assert.equal(await reply.textContent(), 'Hi Alice!\nSecond line.');
  await lastOut(bob.page).locator('.tick[data-status="read"]').waitFor(WAIT);
  await screenshot(bob.page, 'chat-bob-conversation');
});

test('message text with HTML or script shows as literal text and never runs', async () => {
  const payloads = ['<img src=x onerror="window.__xss=1">', '<script>window.__xss=2</script>'];
  for (const payload of payloads) await send(alice.page, payload);
  for (const payload of payloads) {
    await bob.page.locator('#messages .message.in .text').filter({ hasText: payload }).waitFor(WAIT);
    await alice.page.locator('#messages .message.out .text').filter({ hasText: payload }).waitFor(WAIT);
  }
  for (const page of [alice.page, bob.page]) {
    assert.equal(await page.evaluate(() => window.__xss), undefined);
    assert.equal(await page.locator('#messages img, #messages script').count(), 0);
    assert.equal(await page.locator('#conversations img, #conversations script').count(), 0);
  }
  // The conversation list shows the last one as literal text too.
  await conversationItem(bob.page, alice.userId)
    .locator('.preview')
    .filter({ hasText: payloads[1] })
    .waitFor(WAIT);
  await screenshot(bob.page, 'chat-xss-as-text');
});

test('a contact is added by pasting their card, and a message to them arrives', async () => {
  const page = alice.page;
  await page.click('#show-add');
  await page.locator('#add-dialog').waitFor({ state: 'visible' });
  await page.fill('#add-card', 'omega:not-a-card');
  await page.click('#add-submit');
  await page.locator('#add-error').waitFor({ state: 'visible', ...WAIT });
  assert.match(await page.textContent('#add-error'), /card/i);

  // Pasted with a line break in the middle, as cards copied from a terminal often are.
  await page.fill('#add-card', `${carol.card.slice(0, 40)}\n${carol.card.slice(40)}`);
  await page.fill('#add-alias', 'carol');
  await screenshot(page, 'chat-add-contact');
  await page.click('#add-submit');
  await page.locator('#add-dialog').waitFor({ state: 'hidden', ...WAIT });
  await conversationItem(page, carol.userId).waitFor(WAIT);
  assert.equal(await page.textContent('#peer-name'), 'carol');

  const contacts = JSON.parse(await alice.omega('--json', 'contact', 'list'));
  assert.ok(contacts.some((contact) => contact.alias === 'carol' && contact.user_id === carol.userId));

  await send(page, 'Hi Carol, added you from the browser');
  await eventually('Carol receives the message', async () => {
    const messages = JSON.parse(await carol.omega('--json', 'messages'));
    return messages.some((message) => message.text === 'Hi Carol, added you from the browser');
  });
});

test('the safety number view marks a contact verified', async () => {
  const page = alice.page;
  await conversationItem(page, bob.userId).locator('button').click();
  await page.click('#show-safety');
  await page.locator('#safety-dialog').waitFor({ state: 'visible' });
  const bobView = JSON.parse(await alice.omega('--json', 'contact', 'verify', 'bob'));
  assert.equal(await page.textContent('#safety-number'), bobView.safety_number);

  await page.fill('#safety-input', '12345');
  await page.click('#mark-verified');
  await page.locator('#safety-error').waitFor({ state: 'visible', ...WAIT });
  assert.match(await page.textContent('#safety-error'), /differ/);

  await page.fill('#safety-input', '');
  await page.click('#mark-verified');
  await page.locator('#safety-state').filter({ hasText: 'verified' }).waitFor(WAIT);
  await screenshot(page, 'chat-safety-number');
  await page.click('#safety-close');
  await page.locator('#peer-verified').waitFor({ state: 'visible' });
  const contacts = JSON.parse(await alice.omega('--json', 'contact', 'list'));
  assert.equal(contacts.find((contact) => contact.alias === 'bob').verified, true);
});

test('my card is shown with a copy button', async () => {
  const page = alice.page;
  await alice.browser.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: alice.api });
  await page.click('#show-me');
  await page.locator('#me-dialog').waitFor({ state: 'visible' });
  assert.equal(await page.inputValue('#me-card'), alice.card);
  await page.click('#copy-card');
  await page.locator('#copy-card').filter({ hasText: 'Copied' }).waitFor(WAIT);
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), alice.card);
  await screenshot(page, 'chat-my-card');
  await page.click('#me-close');
});

test('at 375 px the list and the chat are shown one at a time', async () => {
  const page = await bob.browser.newPage();
  await page.setViewportSize({ width: 375, height: 740 });
  await page.goto(new URL('/', bob.api).href);
  await page.locator('#app').waitFor({ state: 'visible', ...WAIT });
  const item = conversationItem(page, alice.userId);
  await item.waitFor(WAIT);
  assert.equal(await page.locator('.chat').isVisible(), false);
  const fits = () => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
  assert.ok(await fits(), 'no horizontal scrolling on the list');
  await screenshot(page, 'chat-narrow-list');

  await item.locator('button').click();
  await page.locator('#chat-view').waitFor({ state: 'visible', ...WAIT });
  assert.equal(await page.locator('.sidebar').isVisible(), false);
  await page.locator('#messages .message').first().waitFor(WAIT);
  assert.ok(await fits(), 'no horizontal scrolling in the chat');
  const box = await page.locator('#composer').boundingBox();
  assert.ok(box && box.x >= 0 && box.x + box.width <= 375, 'the composer fits');
  await send(page, 'Sent from a phone-sized window');
  await alice.page
    .locator('#messages .message.in .text')
    .filter({ hasText: 'Sent from a phone-sized window' })
    .waitFor(WAIT);
  await screenshot(page, 'chat-narrow-conversation');

  await page.click('#back');
  await item.waitFor({ state: 'visible' });
  assert.equal(await page.locator('.chat').isVisible(), false);
  await page.close();
});

test('the dark mode toggle wins over the system setting and is remembered', async () => {
  const page = bob.page;
  await page.emulateMedia({ colorScheme: 'light' });
  const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const light = await background();
  await page.click('#theme-toggle');
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
  const dark = await background();
  assert.notEqual(dark, light);
  await page.reload();
  await page.locator('#app').waitFor({ state: 'visible', ...WAIT });
  assert.equal(await background(), dark, 'the choice survives a reload');
  await conversationItem(page, alice.userId).locator('button').click();
  await page.locator('#messages .message').first().waitFor(WAIT);
  await screenshot(page, 'chat-dark');

  await page.emulateMedia({ colorScheme: 'dark' });
  await page.click('#theme-toggle');
  assert.equal(await background(), light, 'toggled back to light on a dark system');
});

test('logging out ends the browser session', async () => {
  const page = bob.page;
  await page.click('#logout');
  await page.locator('#login-needed').waitFor({ state: 'visible', ...WAIT });
  await page.reload();
  await page.locator('#login-needed').waitFor({ state: 'visible', ...WAIT });
  // The node itself still answers its token.
  const contacts = JSON.parse(await bob.omega('--json', 'contact', 'list'));
  assert.equal(contacts.length, 1);
});
