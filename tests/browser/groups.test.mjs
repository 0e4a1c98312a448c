// Groups in the web chat: Bob makes a group of Alice and Carol in his browser; messages from
// the members arrive live with their author, and his own reach them.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, launchBrowser, runOmega, screenshot, startOmega, tempDir } from './lib.mjs';

after(cleanup);

const PASSPHRASE = 'browser groups test passphrase';
const WAIT = { timeout: 30_000 };

async function person(name) {
  const dir = tempDir(`omega-${name.toLowerCase()}-`);
  const env = { OMEGA_PASSPHRASE: PASSPHRASE, BROWSER: '' };
  await runOmega(['--data-dir', dir, 'init', '--name', name], { env });
  await startOmega(['--data-dir', dir, '--json', 'node', '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns'], { env });
  const omega = (...args) => runOmega(['--data-dir', dir, ...args], { env });
  const card = (await omega('id', '--card')).trim();
  return { name, omega, card };
}

async function until(check) {
  const deadline = Date.now() + WAIT.timeout;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('a group made in the browser carries messages both ways, with their authors', async () => {
  const [alice, bob, carol] = await Promise.all([person('Alice'), person('Bob'), person('Carol')]);
  await bob.omega('contact', 'add', alice.card, '--alias', 'alice');
  await bob.omega('contact', 'add', carol.card, '--alias', 'carol');
  await alice.omega('contact', 'add', bob.card, '--alias', 'bob');
  await carol.omega('contact', 'add', bob.card, '--alias', 'bob');

  const { url } = JSON.parse(await bob.omega('--json', 'open'));
  const browser = await launchBrowser();
  const page = browser.pages()[0] ?? (await browser.newPage());
  await page.goto(url);
  await page.locator('#app').waitFor({ state: 'visible', ...WAIT });

  // An empty name is refused by the node; nothing is created.
  await page.click('#show-new-group');
  await page.fill('#group-name', '   ');
  await page.locator('#group-members input[type="checkbox"]').first().waitFor(WAIT);
  await page.click('#group-submit');
  await page.locator('#group-error').waitFor({ state: 'visible', ...WAIT });
  assert.equal(JSON.parse(await bob.omega('--json', 'group', 'list')).length, 0);

  await page.fill('#group-name', 'Churrasco');
  for (const box of await page.locator('#group-members input[type="checkbox"]').all()) await box.check();
  await page.click('#group-submit');
  await page.locator('#peer-name', { hasText: 'Churrasco' }).waitFor(WAIT);
  await page.locator('#peer-id', { hasText: '3 members' }).waitFor(WAIT);
  assert.equal(await page.locator('#show-safety').isHidden(), true);

  // Alice and Carol learn the group; Alice writes: Bob's page shows it with her name.
  for (const member of [alice, carol]) {
    await until(async () => JSON.parse(await member.omega('--json', 'group', 'list')).length === 1);
  }
  await alice.omega('group', 'send', 'Churrasco', 'eu levo a picanha');
  const fromAlice = page.locator('#messages li.in', { hasText: 'eu levo a picanha' });
  await fromAlice.waitFor(WAIT);
  assert.equal(await fromAlice.locator('.author').textContent(), 'alice');

  // Bob answers from the page: Carol (and Alice) get it.
  await page.fill('#composer-text', 'e eu o carvão');
  await page.press('#composer-text', 'Enter');
  await page.locator('#messages li.out', { hasText: 'e eu o carvão' }).waitFor(WAIT);
  await until(async () => {
    const messages = JSON.parse(await carol.omega('--json', 'group', 'messages', 'Churrasco'));
    return messages.some((message) => message.text === 'e eu o carvão' && message.direction === 'in');
  });
  await screenshot(page, 'chat-group');
  await page.locator('#conversations li[data-group-id]', { hasText: 'Churrasco' }).waitFor(WAIT);
});
