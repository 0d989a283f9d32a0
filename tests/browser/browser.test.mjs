// The hub in a real browser: Debian's headless Chromium (driven by playwright-core, no browser
// download) opens a page served on loopback, subscribes with EventSource, publishes with fetch
// and receives the update, including a private one authorized by the cookie. The page and the
// hub are on different ports of 127.0.0.1, so CORS with credentials is exercised for real.
//
// The same three scenarios run against a draft-07 hub (the default protocol: `topic=` URI
// templates, the `mercure` claim, the `mercureAuthorization` cookie) and a draft-08 hub
// (Mercure 1.0: `match=`/`match_urlpattern=`, at+jwt access tokens with
// authorization_details, the `__Secure-mercure_access_token` cookie). Only the edges differ,
// so each protocol is a profile of those edges and the scenarios are written once.
//
// QUICKSILVER_BIN points at the binary (default: target/debug/quicksilver); CHROMIUM_PATH at
// the browser (default: /usr/bin/chromium). QS_TEST_LOGS=1 copies the hubs' logs to stderr.

import { describe, test, before, after } from 'node:test';
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

// What differs between the protocols, as seen from a browser.
const PROTOCOLS = [
  {
    name: 'draft-07',
    directives: [],
    tokenArgs: () => [],
    // Subscription query parameters: the books of the catalogue, and one exact topic.
    books: ['topic', 'https://example.com/books/{id}'],
    exact: (topic) => ['topic', topic],
    // The grant of the private test: every topic under user 42.
    userGrant: ['--subscribe', 'https://example.com/users/42/{+rest}'],
    cookie: (jwt) => `mercureAuthorization=${jwt}; path=/`,
  },
  {
    name: 'draft-08',
    directives: ['protocol draft-08'],
    // The hub's resource identifier is derived from the request (no `resource_identifier`
    // pinned), so the audience is the URL the browser uses; the issuer is the default
    // trusted one (https://localhost) on both sides.
    tokenArgs: (hubUrl) => ['--protocol', 'draft-08', '--aud', hubUrl],
    books: ['match_urlpattern', 'https://example.com/books/:id'],
    exact: (topic) => ['match', topic],
    userGrant: ['--subscribe-urlpattern', 'https://example.com/users/42/*'],
    // The hub's default draft-08 cookie name. A `__Secure-` cookie needs the Secure attribute
    // and a secure context; Chromium counts http://127.0.0.1 as potentially trustworthy, so
    // it sets the cookie from this plain-HTTP page and sends it to the hub's port.
    cookie: (jwt) => `__Secure-mercure_access_token=${jwt}; path=/; Secure`,
  },
];

let browser;

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

/** Starts a hub speaking `protocol` and a page server on another port of 127.0.0.1. */
async function startHub(protocol) {
  const [hubPort, pagePort] = [await freePort(), await freePort()];
  const pageOrigin = `http://127.0.0.1:${pagePort}`;
  const hubUrl = `http://127.0.0.1:${hubPort}/.well-known/mercure`;
  const directives = [
    ...protocol.directives,
    'anonymous',
    `cors_origins ${pageOrigin}`,
    `publish_origins ${pageOrigin}`,
  ];
  const hub = spawn(bin, ['run'], {
    env: {
      PATH: process.env.PATH,
      SERVER_NAME: `127.0.0.1:${hubPort}`,
      MERCURE_PUBLISHER_JWT_KEY: SECRET,
      MERCURE_SUBSCRIBER_JWT_KEY: SECRET,
      MERCURE_EXTRA_DIRECTIVES: directives.join('\n'),
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  hub.stderr.on('data', (d) => {
    log = (log + d).slice(-4000);
    if (process.env.QS_TEST_LOGS) process.stderr.write(d);
  });
  const exited = new Promise((resolve) => hub.on('exit', (code) => resolve(code)));
  const pageServer = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end('<!DOCTYPE html><title>Quicksilver browser test</title><h1>test page</h1>');
  });
  await new Promise((r) => pageServer.listen(pagePort, '127.0.0.1', r));
  // A hub refusing its configuration exits at once: say so instead of timing out on the port.
  await Promise.race([
    waitForPort(hubPort),
    exited.then((code) => { throw new Error(`the ${protocol.name} hub exited with ${code}: ${log.trim()}`); }),
  ]);
  const token = (...args) => execFileSync(
    bin, ['token', '--key', SECRET, ...protocol.tokenArgs(hubUrl), ...args], { encoding: 'utf8' },
  ).trim();
  return {
    hubUrl,
    pageOrigin,
    token,
    async stop() {
      pageServer.close();
      hub.kill('SIGTERM');
      await exited;
    },
  };
}

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
});

for (const protocol of PROTOCOLS) {
  describe(`protocol ${protocol.name}`, () => {
    let hub;

    before(async () => { hub = await startHub(protocol); });
    after(async () => { await hub?.stop(); });

    async function newPage() {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(hub.pageOrigin + '/');
      return page;
    }

    test('EventSource receives a public update published with fetch', async () => {
      const page = await newPage();
      const result = await page.evaluate(async ({ hubUrl, publisher, books }) => {
        const url = new URL(hubUrl);
        url.searchParams.append(...books);
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
      }, { hubUrl: hub.hubUrl, publisher: hub.token('--publish', '*'), books: protocol.books });
      assert.equal(result.status, 200);
      assert.match(result.contentType, /^text\/plain(;|$)/);
      assert.equal(result.body, 'browser-1');
      assert.deepEqual(result.msg, { id: 'browser-1', data: 'hello\n  browser', type: 'message' });
      await page.context().close();
    });

    test('a private update reaches the cookie-authorized EventSource only', async () => {
      const page = await newPage();
      const result = await page.evaluate(async ({ hubUrl, publisher, cookie, books }) => {
        // Cookies are per host, not per port: this one reaches the hub on 127.0.0.1 as well.
        document.cookie = cookie;
        const open = (withCredentials) => {
          const url = new URL(hubUrl);
          url.searchParams.append(...books);
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
      }, {
        hubUrl: hub.hubUrl,
        publisher: hub.token('--publish', '*'),
        cookie: protocol.cookie(hub.token(...protocol.userGrant)),
        books: protocol.books,
      });
      assert.deepEqual(result.statuses, [200, 200]);
      assert.deepEqual(result.authorized, ['secret', 'public']);
      assert.deepEqual(result.anonymous, ['public']);
      await page.context().close();
    });

    test('publishing with the cookie from an allowed origin', async () => {
      const page = await newPage();
      const result = await page.evaluate(async ({ hubUrl, cookie, subscription }) => {
        document.cookie = cookie;
        const url = new URL(hubUrl);
        url.searchParams.append(...subscription);
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
      }, {
        hubUrl: hub.hubUrl,
        cookie: protocol.cookie(hub.token('--publish', '*')),
        subscription: protocol.exact('https://example.com/cookie'),
      });
      assert.equal(result.status, 200);
      assert.equal(result.data, 'via cookie');
      await page.context().close();
    });
  });
}
