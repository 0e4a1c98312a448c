// Files in the web chat: Bob picks a file in his browser and Alice gets it; Alice sends one
// from her terminal and Bob fetches and saves it from the page, verified by the node.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { cleanup, eventually, launchBrowser, runOmega, screenshot, startOmega, tempDir } from './lib.mjs';

after(cleanup);

const PASSPHRASE = 'browser files test passphrase';
const WAIT = { timeout: 30_000 };

async function person(name) {
  const dir = tempDir(`omega-${name.toLowerCase()}-`);
  const env = { OMEGA_PASSPHRASE: PASSPHRASE, BROWSER: '' };
  await runOmega(['--data-dir', dir, 'init', '--name', name], { env });
  await startOmega(['--data-dir', dir, '--json', 'node', '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns'], { env });
  const omega = (...args) => runOmega(['--data-dir', dir, ...args], { env });
  const card = (await omega('id', '--card')).trim();
  return { name, dir, omega, card };
}

test('a file picked in the browser arrives, and a received one is fetched and saved', async () => {
  const [alice, bob] = await Promise.all([person('Alice'), person('Bob')]);
  await alice.omega('contact', 'add', bob.card, '--alias', 'bob');
  await bob.omega('contact', 'add', alice.card, '--alias', 'alice');

  const { url } = JSON.parse(await bob.omega('--json', 'open'));
  const browser = await launchBrowser();
  const page = browser.pages()[0] ?? (await browser.newPage());
  await page.goto(url);
  await page.locator('#app').waitFor({ state: 'visible', ...WAIT });
  await page.locator('#conversations li', { hasText: 'alice' }).first().click();

  // Bob sends a file from the page.
  const picked = 'Orçamento da festa — 120 convidados\n'.repeat(2000);
  await page.setInputFiles('#file-input', {
    name: 'orçamento.txt',
    mimeType: 'text/plain',
    buffer: Buffer.from(picked),
  });
  const arrived = await eventually('the file reaches alice', async () => {
    const messages = JSON.parse(await alice.omega('--json', 'messages', '--with', 'bob'));
    return messages.find((message) => message.kind === 'file' && message.direction === 'in');
  });
  assert.equal(arrived.file.name, 'orçamento.txt');
  const out = tempDir('omega-fetched-');
  const fetched = JSON.parse(await alice.omega('--json', 'fetch-file', arrived.message_id, '--out', out));
  assert.equal(readFileSync(fetched.path, 'utf8'), picked);

  // Alice sends one from her terminal: Bob's page shows it, fetches it and saves it.
  const original = path.join(tempDir('omega-original-'), 'receita.md');
  const recipe = '# Pão de queijo\n\n500 g de polvilho azedo, 2 ovos, 1 xícara de leite.\n'.repeat(500);
  writeFileSync(original, recipe);
  await alice.omega('--json', 'send-file', 'bob', original);
  const card = page.locator('#messages li.in .file-card', { hasText: 'receita.md' });
  await card.waitFor(WAIT);
  await card.locator('.file-fetch').click();
  const save = card.locator('.file-save');
  await page.locator('#messages li.in .file-card .file-save').waitFor(WAIT);
  const href = await save.getAttribute('href');
  const saved = await page.evaluate(async (href) => {
    const response = await fetch(href, { credentials: 'same-origin' });
    return { status: response.status, disposition: response.headers.get('content-disposition'), text: await response.text() };
  }, href);
  assert.equal(saved.status, 200);
  assert.match(saved.disposition, /^attachment/);
  assert.equal(saved.text, recipe);
  await screenshot(page, 'chat-files');

  // The browser may not make the node read or write where it likes.
  const refused = await page.evaluate(async (csrf) => {
    const response = await fetch('/v1/files', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify({ to: 'alice', path: '/etc/passwd' }),
    });
    return response.status;
  }, await page.evaluate(async () => (await (await fetch('/v1/web/session')).json()).csrf));
  assert.equal(refused, 403);
});
