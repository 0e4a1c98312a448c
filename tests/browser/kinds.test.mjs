// Message kinds in the web chat: edits, reactions, deletes for everyone, locations, disappearing
// messages and search, arriving live from another node while the page is open.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, launchBrowser, runOmega, screenshot, startOmega, tempDir } from './lib.mjs';

after(cleanup);

const PASSPHRASE = 'browser kinds test passphrase';
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

test('edits, reactions, deletes, locations, disappearing messages and search show live', async () => {
  const [alice, bob] = await Promise.all([person('Alice'), person('Bob')]);
  await alice.omega('contact', 'add', bob.card, '--alias', 'bob');
  await bob.omega('contact', 'add', alice.card, '--alias', 'alice');

  const { url } = JSON.parse(await bob.omega('--json', 'open'));
  const browser = await launchBrowser();
  const page = browser.pages()[0] ?? (await browser.newPage());
  await page.goto(url);
  await page.locator('#app').waitFor({ state: 'visible', ...WAIT });

  const first = JSON.parse(await alice.omega('--json', 'send', 'bob', 'primeira versão'));
  await page.locator('#conversations li', { hasText: 'alice' }).first().click();
  const bubble = page.locator(`#messages li[data-message-id="${first.message_id}"]`);
  await bubble.waitFor(WAIT);

  // Alice edits it: Bob's open page shows the new text, marked edited, without a reload.
  await alice.omega('edit', first.message_id, 'versão corrigida');
  await bubble.locator('.text', { hasText: 'versão corrigida' }).waitFor(WAIT);
  assert.equal(await bubble.locator('.edited').count(), 1);

  // Bob reacts (from his CLI): the chip shows on his page.
  await bob.omega('react', first.message_id, '🎉');
  await bubble.locator('.reaction', { hasText: '🎉 1' }).waitFor(WAIT);

  // A location, then Alice deletes it for everyone.
  const place = JSON.parse(
    await alice.omega('--json', 'send', 'bob', '--location', '-23.5505,-46.6333', '--label', 'Praça da Sé'),
  );
  const placeBubble = page.locator(`#messages li[data-message-id="${place.message_id}"]`);
  await placeBubble.locator('.detail', { hasText: '-23.55050, -46.63330' }).waitFor(WAIT);
  assert.equal(await placeBubble.getAttribute('data-kind'), 'location');
  await screenshot(page, 'chat-kinds');

  // Search finds the location by a word without its accent; a result opens the conversation.
  await page.fill('#search-text', 'praca');
  const result = page.locator('#search-results li', { hasText: 'Praça da Sé' });
  await result.waitFor(WAIT);
  await screenshot(page, 'chat-search');
  await result.locator('button').click();
  await page.locator('#conversations').waitFor({ state: 'visible', ...WAIT });

  await alice.omega('delete', place.message_id);
  await placeBubble.locator('.text.deleted').waitFor(WAIT);
  assert.equal(await placeBubble.locator('.detail').count(), 0, 'the coordinates are gone too');

  // Disappearing messages: the timer line shows, then the message vanishes from the page.
  await alice.omega('timer', 'bob', '2s');
  await page.locator('#messages li[data-kind="timer"]', { hasText: 'disappearing messages: 2 seconds' }).waitFor(WAIT);
  const fleeting = JSON.parse(await alice.omega('--json', 'send', 'bob', 'isto some'));
  const fleetingBubble = page.locator(`#messages li[data-message-id="${fleeting.message_id}"]`);
  await fleetingBubble.waitFor(WAIT);
  await fleetingBubble.waitFor({ state: 'detached', ...WAIT });
  await screenshot(page, 'chat-after-erase');
});
