// The first-run path of README's first command: a person runs `omega up`, opens the printed web
// chat link in a browser, adds a friend by pasting the friend's card, and they chat — the friend
// reaching them through the server `omega up` bundled.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, eventually, launchBrowser, runOmega, screenshot, startOmega, tempDir } from './lib.mjs';

after(cleanup);

const PASSPHRASE = 'browser up test passphrase';
const WAIT = { timeout: 30_000 };

test('a new user runs omega up, opens the printed link and chats with a friend', async () => {
  const env = { OMEGA_PASSPHRASE: PASSPHRASE, BROWSER: '' };
  const home = tempDir('omega-up-');
  const up = await startOmega(
    [
      '--data-dir', home, '--json', 'up', '--name', 'Ana', '--no-mdns',
      '--listen', '/ip4/127.0.0.1/tcp/0',
      '--server-listen', '/ip4/127.0.0.1/tcp/0', '--server-http', '127.0.0.1:0',
      '--hub-http', '127.0.0.1:0',
    ],
    { env },
  );
  // On a first run, `init` prints the new identity before the stack starts.
  let started = up.first;
  if (started.event !== 'started') {
    started = await eventually('omega up to start', () =>
      up.lines.map((line) => JSON.parse(line)).find((line) => line.event === 'started'),
    );
  }
  assert.match(started.web, /^http:\/\/127\.0\.0\.1:\d+\/login\?code=/);
  assert.ok(started.owner.password, 'the first run prints the owner password');

  // A friend with their own node, using Ana's server as bootstrap.
  const friendDir = tempDir('omega-friend-');
  const friend = (...args) => runOmega(['--data-dir', friendDir, ...args], { env });
  await friend('init', '--name', 'Bia');
  await startOmega(
    ['--data-dir', friendDir, '--json', 'node', '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns', '--bootstrap', started.home],
    { env },
  );
  const friendCard = (await friend('id', '--card')).trim();

  const browser = await launchBrowser();
  const page = browser.pages()[0] ?? (await browser.newPage());
  await page.goto(started.web);
  await page.locator('#app').waitFor({ state: 'visible', ...WAIT });
  assert.equal(await page.textContent('#me-name'), 'Ana');
  await screenshot(page, 'up-first-open');

  await page.click('#show-add');
  await page.fill('#add-card', friendCard);
  await page.fill('#add-alias', 'bia');
  await page.click('#add-submit');
  await page.locator('#add-dialog').waitFor({ state: 'hidden', ...WAIT });
  await page.locator('#conversations li', { hasText: 'bia' }).first().click();
  await page.locator('#composer-text').fill('Oi Bia, instalei o Ômega!');
  await page.locator('#composer-text').press('Enter');

  // The friend adds Ana back (from the card `omega up` printed) and gets the message.
  await friend('contact', 'add', started.card, '--alias', 'ana');
  await eventually('Bia to receive the message', async () => {
    const messages = JSON.parse(await friend('--json', 'messages', '--with', 'ana'));
    return messages.some((m) => m.direction === 'in' && m.text === 'Oi Bia, instalei o Ômega!');
  });
  await friend('send', 'ana', 'Bem-vinda, Ana!');
  await page.locator('#messages .message.in', { hasText: 'Bem-vinda, Ana!' }).waitFor(WAIT);
  await page.locator('#conversations li', { hasText: 'Bem-vinda, Ana!' }).waitFor(WAIT);
  await screenshot(page, 'up-chatting');
});
