// Shared helpers of the browser tests: the omega binary, throwaway data dirs, child processes
// that are always stopped, and Debian's Chromium driven by playwright-core.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir, homedir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, '..', '..');
const targetDir = process.env.CARGO_TARGET_DIR || path.join(homedir(), '.cache', 'omega-target');
/** The debug omega binary (scripts/test builds it before running these tests). */
export const omegaBin = process.env.OMEGA_BIN || path.join(targetDir, 'debug', 'omega');
/** Screenshots land here (never committed). */
export const artifacts = path.join(targetDir, 'browser-artifacts');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';

const cleanups = [];
/** Registers `fn` to run at the end of the test file (LIFO). */
export function onCleanup(fn) {
  cleanups.push(fn);
}
/** Runs every registered cleanup; call it from `after()`. */
export async function cleanup() {
  while (cleanups.length) {
    const fn = cleanups.pop();
    try {
      await fn();
    } catch (error) {
      console.error('cleanup failed:', error);
    }
  }
}

/** A fresh directory, removed at cleanup. */
export function tempDir(prefix = 'omega-browser-') {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Starts `omega ARGS` and resolves with `{ child, first }` once it printed its first stdout line
 * (parsed as JSON when it is JSON). The process is sent SIGTERM at cleanup.
 */
export function startOmega(args, { env = {}, timeoutMs = 60_000 } = {}) {
  const child = spawn(omegaBin, args, {
    env: { ...process.env, OMEGA_LOG: process.env.OMEGA_LOG || 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr = [];
  child.stderr.on('data', (chunk) => stderr.push(chunk));
  onCleanup(() => stop(child));
  const lines = createInterface({ input: child.stdout });
  const rest = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`omega ${args.join(' ')} did not start: ${Buffer.concat(stderr)}`)),
      timeoutMs,
    );
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`omega ${args.join(' ')} exited ${code}: ${Buffer.concat(stderr)}`));
    });
    lines.once('line', (line) => {
      clearTimeout(timer);
      let first = line;
      try {
        first = JSON.parse(line);
      } catch {}
      lines.on('line', (more) => rest.push(more));
      resolve({ child, first, lines: rest, stderr: () => Buffer.concat(stderr).toString() });
    });
  });
}

/** Runs `omega ARGS` to completion; resolves with stdout (rejects on a non-zero exit). */
export function runOmega(args, { env = {}, input } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(omegaBin, args, {
      env: { ...process.env, ...env },
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (err += chunk));
    if (input !== undefined) child.stdin.end(input);
    child.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`omega ${args.join(' ')} exited ${code}: ${err}`)),
    );
  });
}

function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * Launches Debian's Chromium headless with a fresh profile; closed at cleanup. `args` are added
 * to Chromium's command line (e.g. a fake camera).
 */
export async function launchBrowser({ args = [] } = {}) {
  const profile = tempDir('omega-chromium-');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      ...args,
    ],
  });
  onCleanup(() => context.close());
  return context;
}

/**
 * A separate browser (its own profile: its own cookies and storage), as a second person would
 * have. Use one per person in a test.
 */
export const newPerson = launchBrowser;

/** Saves a full-page screenshot as `artifacts/NAME.png`. */
export async function screenshot(page, name) {
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });
}

/** Polls `fn` until it returns a truthy value (or throws after `timeoutMs`). */
export async function eventually(what, fn, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}: ${last}`);
}
