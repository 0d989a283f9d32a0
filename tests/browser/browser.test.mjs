// The hub in a real browser: Debian's headless Chromium (driven by playwright-core, no browser
// download) opens a page served on loopback, subscribes with EventSource, publishes with fetch
// and receives the update, including a private one authorized by the cookie. The page and the
// hub are on different ports of 127.0.0.1, so CORS with credentials is exercised for real.
//
// QUICKSILVER_BIN points at the binary (default: target/debug/quicksilver); CHROMIUM_PATH at
// the browser (default: /usr/bin/chromium).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const bin = process.env.QUICKSILVER_BIN ?? path.join(root, 'target/debug/quicksilver');
const SECRET = '!ChangeThisMercureHubJWTSecretKey!';

let hub, hubUrl, pageServer, pageOrigin, browser;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

async function waitForPort(port, ms = 20000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const ok = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => { c.end(); resolve(true); });
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listening on ${port}`);
}

function token(...args) {
  return execFileSync(bin, ['token', '--key', SECRET, ...args], { encoding: 'utf8' }).trim();
}

before(async () => {
  const [hubPort, pagePort] = [await freePort(), await freePort()];
  pageOrigin = `http://127.0.0.1:${pagePort}`;
  hubUrl = `http://127.0.0.1:${hubPort}/.well-known/mercure`;
  hub = spawn(bin, ['run'], {
    env: {
      PATH: process.env.PATH,
      SERVER_NAME: `127.0.0.1:${hubPort}`,
      MERCURE_PUBLISHER_JWT_KEY: SECRET,
      MERCURE_SUBSCRIBER_JWT_KEY: SECRET,
      MERCURE_EXTRA_DIRECTIVES: `anonymous\ncors_origins ${pageOrigin}\npublish_origins ${pageOrigin}`,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  hub.stderr.on('data', (d) => { if (process.env.QS_TEST_LOGS) process.stderr.write(d); });
  pageServer = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end('<!DOCTYPE html><title>Quicksilver browser test</title><h1>test page</h1>');
  });
  await new Promise((r) => pageServer.listen(pagePort, '127.0.0.1', r));
  await waitForPort(hubPort);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  pageServer?.close();
  hub?.kill('SIGTERM');
});

async function newPage() {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(pageOrigin + '/');
  return page;
}

test('EventSource receives a public update published with fetch', async () => {
  const page = await newPage();
  const result = await page.evaluate(async ({ hubUrl, publisher }) => {
    const url = new URL(hubUrl);
    url.searchParams.append('topic', 'https://example.com/books/{id}');
    const es = new EventSource(url);
    await new Promise((resolve, reject) => { es.onopen = resolve; es.onerror = () => reject(new Error('EventSource failed')); });
    const received = new Promise((resolve) => {
      es.onmessage = (e) => resolve({ id: e.lastEventId, data: e.data, type: e.type });
    });
    const r = await fetch(hubUrl, {
      method: 'POST',
      headers: { Authorization: `Bearer ${publisher}` },
      body: new URLSearchParams({ topic: 'https://example.com/books/1', data: 'hello\n  browser', id: 'browser-1' }),
    });
    const body = await r.text();
    const msg = await Promise.race([received, new Promise((_, rej) => setTimeout(() => rej(new Error('no update within 5 s')), 5000))]);
    es.close();
    return { status: r.status, contentType: r.headers.get('content-type'), body, msg };
  }, { hubUrl, publisher: token('--publish', '*') });
  assert.equal(result.status, 200);
  assert.match(result.contentType, /^text\/plain(;|$)/);
  assert.equal(result.body, 'browser-1');
  assert.deepEqual(result.msg, { id: 'browser-1', data: 'hello\n  browser', type: 'message' });
  await page.context().close();
});

test('a private update reaches the cookie-authorized EventSource only', async () => {
  const page = await newPage();
  const subscriberToken = token('--subscribe', 'https://example.com/users/42/{+rest}');
  const result = await page.evaluate(async ({ hubUrl, publisher, subscriberToken }) => {
    // Cookies are per host, not per port: this one reaches the hub on 127.0.0.1 as well.
    document.cookie = `mercureAuthorization=${subscriberToken}; path=/`;
    const open = (withCredentials) => {
      const url = new URL(hubUrl);
      url.searchParams.append('topic', 'https://example.com/books/{id}');
      const es = new EventSource(url, { withCredentials });
      const messages = [];
      es.onmessage = (e) => messages.push(e.data);
      const opened = new Promise((resolve, reject) => { es.onopen = resolve; es.onerror = () => reject(new Error('EventSource failed')); });
      return { es, messages, opened };
    };
    const authorized = open(true);
    const anonymous = open(false);
    await Promise.all([authorized.opened, anonymous.opened]);
    const post = (fields) => fetch(hubUrl, {
      method: 'POST',
      headers: { Authorization: `Bearer ${publisher}` },
      body: new URLSearchParams(fields),
    }).then((r) => r.status);
    const statuses = [];
    // Routed by the book topic, authorized by the alternate user topic.
    statuses.push(await post([['topic', 'https://example.com/books/7'], ['topic', 'https://example.com/users/42/books/7'], ['data', 'secret'], ['private', 'on']]));
    statuses.push(await post([['topic', 'https://example.com/books/8'], ['data', 'public']]));
    const deadline = Date.now() + 5000;
    while ((authorized.messages.length < 2 || anonymous.messages.length < 1) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    authorized.es.close();
    anonymous.es.close();
    return { statuses, authorized: authorized.messages, anonymous: anonymous.messages };
  }, { hubUrl, publisher: token('--publish', '*'), subscriberToken });
  assert.deepEqual(result.statuses, [200, 200]);
  assert.deepEqual(result.authorized, ['secret', 'public']);
  assert.deepEqual(result.anonymous, ['public']);
  await page.context().close();
});

test('publishing with the cookie from an allowed origin', async () => {
  const page = await newPage();
  const result = await page.evaluate(async ({ hubUrl, publisher }) => {
    document.cookie = `mercureAuthorization=${publisher}; path=/`;
    const url = new URL(hubUrl);
    url.searchParams.append('topic', 'https://example.com/cookie');
    const es = new EventSource(url);
    await new Promise((resolve, reject) => { es.onopen = resolve; es.onerror = () => reject(new Error('EventSource failed')); });
    const received = new Promise((resolve) => { es.onmessage = (e) => resolve(e.data); });
    const r = await fetch(hubUrl, {
      method: 'POST',
      credentials: 'include',
      body: new URLSearchParams({ topic: 'https://example.com/cookie', data: 'via cookie' }),
    });
    const data = await Promise.race([received, new Promise((_, rej) => setTimeout(() => rej(new Error('no update within 5 s')), 5000))]);
    es.close();
    return { status: r.status, data };
  }, { hubUrl, publisher: token('--publish', '*') });
  assert.equal(result.status, 200);
  assert.equal(result.data, 'via cookie');
  await page.context().close();
});
