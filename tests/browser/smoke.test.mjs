// The harness itself: Debian's Chromium starts headless and renders a page.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, cleanup } from './lib.mjs';

after(cleanup);

test('chromium starts headless and runs a page', async () => {
  const browser = await launchBrowser();
  const page = await browser.newPage();
  await page.setContent('<p id="x">hello</p>');
  assert.equal(await page.textContent('#x'), 'hello');
});
