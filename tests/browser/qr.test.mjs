// Contact cards as QR codes in the web chat: Alice's "My card" shows her QR code, Bob adds her
// by choosing a picture of it, and Carol adds her by holding it up to a camera (Chromium's fake
// camera, fed a video of the code). Each person has a running node and their own Chromium
// profile. The tests in this file run in order and share the people set up in `before`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanup, launchBrowser, runOmega, screenshot, startOmega, tempDir } from './lib.mjs';

after(cleanup);

const PASSPHRASE = 'browser qr test passphrase';
const WAIT = { timeout: 30_000 };

async function person(name) {
  const dir = tempDir(`omega-qr-${name.toLowerCase()}-`);
  const env = { OMEGA_PASSPHRASE: PASSPHRASE, BROWSER: '' };
  await runOmega(['--data-dir', dir, 'init', '--name', name], { env });
  const node = await startOmega(
    ['--data-dir', dir, '--json', 'node', '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns'],
    { env },
  );
  const omega = (...args) => runOmega(['--data-dir', dir, ...args], { env });
  const card = (await omega('id', '--card')).trim();
  return { name, dir, omega, card, userId: node.first.user_id, api: node.first.api };
}

/** Their own browser (Chromium `args` added), logged in with `omega open`; resolves with the page. */
async function logIn(who, args = []) {
  const { url } = JSON.parse(await who.omega('--json', 'open'));
  const browser = await launchBrowser({ args });
  const page = browser.pages()[0] ?? (await browser.newPage());
  await page.setViewportSize({ width: 1100, height: 800 });
  await page.goto(url);
  await page.locator('#app').waitFor({ state: 'visible', ...WAIT });
  who.browser = browser;
  who.page = page;
  return page;
}

/**
 * Alice's QR code as the node serves it (`/v1/id/qr.svg`), drawn on a white canvas in her
 * page: `{ png }` (a Buffer) at `scale` times its size, or `{ grey, width, height }`, the code
 * centred in a `width` × `height` frame of grey levels.
 */
async function aliceQr({ scale = 2, frame } = {}) {
  const drawn = await alice.page.evaluate(
    async ({ scale, frame }) => {
      const image = new Image();
      image.src = '/v1/id/qr.svg';
      await image.decode();
      const canvas = document.createElement('canvas');
      const context = canvas.getContext('2d');
      if (!frame) {
        canvas.width = image.naturalWidth * scale;
        canvas.height = image.naturalHeight * scale;
        context.fillStyle = '#ffffff';
        context.fillRect(0, 0, canvas.width, canvas.height);
        context.imageSmoothingEnabled = false;
        context.drawImage(image, 0, 0, canvas.width, canvas.height);
        return { png: canvas.toDataURL('image/png').split(',')[1] };
      }
      canvas.width = frame.width;
      canvas.height = frame.height;
      context.fillStyle = '#ffffff';
      context.fillRect(0, 0, frame.width, frame.height);
      const side = Math.min(frame.width, frame.height) * 0.9;
      context.drawImage(image, (frame.width - side) / 2, (frame.height - side) / 2, side, side);
      const rgba = context.getImageData(0, 0, frame.width, frame.height).data;
      const grey = new Uint8Array(frame.width * frame.height);
      for (let i = 0; i < grey.length; i++) grey[i] = rgba[i * 4 + 1];
      let text = '';
      for (let i = 0; i < grey.length; i += 0x8000) {
        text += String.fromCharCode(...grey.subarray(i, i + 0x8000));
      }
      return { grey: btoa(text) };
    },
    { scale, frame },
  );
  if (drawn.png) return { png: Buffer.from(drawn.png, 'base64') };
  return { grey: Buffer.from(drawn.grey, 'base64'), ...frame };
}

/** A one-frame YUV4MPEG2 video of grey levels, for Chromium's fake camera (it loops it). */
function y4m({ grey, width, height }) {
  const chroma = Buffer.alloc((width / 2) * (height / 2) * 2, 128);
  return Buffer.concat([
    Buffer.from(`YUV4MPEG2 W${width} H${height} F10:1 Ip A1:1 C420jpeg\nFRAME\n`),
    grey,
    chroma,
  ]);
}

const conversationItem = (page, userId) => page.locator(`#conversations li[data-user-id="${userId}"]`);

let alice;
let bob;
let carol;

before(async () => {
  [alice, bob, carol] = await Promise.all([person('Alice'), person('Bob'), person('Carol')]);
  await Promise.all([logIn(alice), logIn(bob)]);
});

test('my card shows its QR code above the text', async () => {
  const page = alice.page;
  await page.click('#show-me');
  await page.locator('#me-dialog').waitFor({ state: 'visible' });
  const qr = page.locator('#me-qr');
  await page.waitForFunction(() => {
    const image = document.getElementById('me-qr');
    return image.complete && image.naturalWidth > 0;
  }, null, WAIT);
  assert.match(await qr.getAttribute('src'), /^\/v1\/id\/qr\.svg/);
  assert.equal(await page.inputValue('#me-card'), alice.card);
  const image = await qr.boundingBox();
  const text = await page.locator('#me-card').boundingBox();
  assert.ok(image.width >= 300 && image.y + image.height <= text.y, 'a readable code above the card');
  await screenshot(page, 'chat-qr-my-card');
  await page.click('#me-close');
});

test('a contact is added by choosing a picture of their QR code', async () => {
  const page = bob.page;
  const files = tempDir('omega-qr-files-');
  const blank = path.join(files, 'blank.png');
  const alices = path.join(files, 'alice.png');
  writeFileSync(alices, (await aliceQr()).png);
  // A picture without a code: a white PNG, drawn by Bob's page.
  const white = await page.evaluate(() => {
    const canvas = document.createElement('canvas');
    canvas.width = 320;
    canvas.height = 240;
    const context = canvas.getContext('2d');
    context.fillStyle = '#ffffff';
    context.fillRect(0, 0, 320, 240);
    return canvas.toDataURL('image/png').split(',')[1];
  });
  writeFileSync(blank, Buffer.from(white, 'base64'));
  // Bob's own code as an SVG file: the page redraws it as a PNG for the node.
  const bobsSvg = await page.evaluate(async () => (await fetch('/v1/id/qr.svg')).text());

  await page.click('#show-add');
  await page.locator('#add-dialog').waitFor({ state: 'visible' });
  assert.equal(await page.getAttribute('#add-scan-file', 'accept'), 'image/*');
  assert.equal(await page.getAttribute('#add-scan-file', 'capture'), 'environment');
  assert.equal(await page.locator('#add-camera').isVisible(), true, 'a camera button where there is a camera API');

  await page.setInputFiles('#add-scan-file', blank);
  await page.locator('#add-error').filter({ hasText: 'No QR code found in that image.' }).waitFor(WAIT);
  await screenshot(page, 'chat-qr-no-code');

  await page.setInputFiles('#add-scan-file', { name: 'bob.svg', mimeType: 'image/svg+xml', buffer: Buffer.from(bobsSvg) });
  await page.locator('#add-error').filter({ hasText: 'your own card' }).waitFor(WAIT);

  await page.setInputFiles('#add-scan-file', alices);
  await page.waitForFunction((card) => document.getElementById('add-card').value === card, alice.card, WAIT);
  await page.locator('#scan-status').filter({ hasText: 'Found the card of Alice' }).waitFor(WAIT);
  assert.equal(await page.locator('#add-error').isVisible(), false);
  const contacts = JSON.parse(await bob.omega('--json', 'contact', 'list'));
  assert.equal(contacts.length, 0, 'scanning alone adds nobody');

  await page.fill('#add-alias', 'alice');
  await screenshot(page, 'chat-qr-scanned');
  await page.click('#add-submit');
  await page.locator('#add-dialog').waitFor({ state: 'hidden', ...WAIT });
  await conversationItem(page, alice.userId).waitFor(WAIT);
  assert.equal(await page.textContent('#peer-name'), 'alice');
  const added = JSON.parse(await bob.omega('--json', 'contact', 'list'));
  assert.ok(added.some((contact) => contact.alias === 'alice' && contact.user_id === alice.userId));
  await screenshot(page, 'chat-qr-added');
});

test('a contact is added by holding their QR code up to the camera', async () => {
  const frame = await aliceQr({ frame: { width: 960, height: 720 } });
  const video = path.join(tempDir('omega-qr-camera-'), 'alice.y4m');
  writeFileSync(video, y4m(frame));
  const page = await logIn(carol, [
    '--use-fake-ui-for-media-stream',
    '--use-fake-device-for-media-stream',
    `--use-file-for-fake-video-capture=${video}`,
  ]);
  await carol.browser.grantPermissions(['camera'], { origin: carol.api });

  await page.click('#show-add');
  await page.locator('#add-dialog').waitFor({ state: 'visible' });
  await page.click('#add-camera');
  await page.locator('#camera').waitFor({ state: 'visible', ...WAIT });
  await page.waitForFunction(
    () => document.getElementById('camera-video').videoWidth > 0 || document.getElementById('add-card').value,
    null,
    WAIT,
  );
  await screenshot(page, 'chat-qr-camera'); // the preview, unless the card was already found
  await page.waitForFunction((card) => document.getElementById('add-card').value === card, alice.card, WAIT);
  await page.locator('#camera').waitFor({ state: 'hidden', ...WAIT });
  const live = await page.evaluate(() => document.getElementById('camera-video').srcObject);
  assert.equal(live, null, 'the camera is stopped once a card is found');
  await page.locator('#scan-status').filter({ hasText: 'Found the card of Alice' }).waitFor(WAIT);
  await screenshot(page, 'chat-qr-camera-found');

  await page.click('#add-submit');
  await page.locator('#add-dialog').waitFor({ state: 'hidden', ...WAIT });
  await conversationItem(page, alice.userId).waitFor(WAIT);
});
