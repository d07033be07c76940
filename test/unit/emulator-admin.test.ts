// The emulator's admin API refuses what a web page can send (issue 16, item 6). Before the fix, a
// page in a local browser could POST faults with a text/plain body (a "simple" request: no CORS
// preflight, the browser sends it and only hides the answer), and a page on a rebound DNS name
// (attacker.example → 127.0.0.1) could read the counters. Here those exact requests, byte for byte
// as a browser sends them, then the same attacks from a real Chromium page.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startEmulator } from '../../src/emulator';
import { ADMIN_HEADER, emulatorAdmin } from '../../src/emulator/admin-client';

type Emulator = Awaited<ReturnType<typeof startEmulator>>;
const CHROMIUM = '/usr/bin/chromium';
const FAULTS = { '*': { throttle: { count: 1000 } } };

/** One raw HTTP/1.1 request with exactly these headers (fetch would add or forbid some). */
function raw(url: string, method: string, headers: Record<string, string>, body?: string): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method, headers, setHost: false }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('emulator admin API: cross-site requests', () => {
  let em: Emulator;
  let host: string;
  before(async () => {
    em = await startEmulator();
    host = new URL(em.url).host;
  });
  after(() => em.stop());

  it('refuses the simple cross-site POST a web page sends (text/plain, Origin): faults stay unset', async () => {
    const r = await raw(
      `${em.url}/__admin/faults`,
      'POST',
      {
        Host: host,
        Origin: 'http://attacker.example',
        'Content-Type': 'text/plain;charset=UTF-8',
        'Sec-Fetch-Site': 'cross-site',
        'Sec-Fetch-Mode': 'no-cors',
      },
      JSON.stringify(FAULTS),
    );
    assert.equal(r.status, 403, r.body);
    assert.match(r.body, /refuses requests from web pages/);
    assert.deepEqual(em.faults(), {});
  });

  it('refuses a DNS-rebound read of the counters (Host: attacker.example, same-origin so no Origin)', async () => {
    const r = await raw(`${em.url}/__admin/counters`, 'GET', { Host: `attacker.example:${em.port}`, [ADMIN_HEADER]: '1' });
    assert.equal(r.status, 403, r.body);
    assert.match(r.body, /loopback host/);
    assert.doesNotMatch(r.body, /total/);
  });

  it('wants the admin header, a loopback Host, no Origin and JSON; the in-repo client has them all', async () => {
    const ok = { Host: host, [ADMIN_HEADER]: '1', 'Content-Type': 'application/json' };
    const without = (name: string) => Object.fromEntries(Object.entries(ok).filter(([k]) => k !== name));
    const cases: Array<[string, string, Record<string, string>, number, RegExp]> = [
      ['no admin header', 'GET', without(ADMIN_HEADER), 403, /X-KMS-Envelope-Admin: 1/],
      ['admin header 0', 'GET', { ...ok, [ADMIN_HEADER]: '0' }, 403, /X-KMS-Envelope-Admin: 1/],
      ['Origin: null (sandboxed frame)', 'GET', { ...ok, Origin: 'null' }, 403, /web pages/],
      ['Origin of the emulator itself', 'GET', { ...ok, Origin: em.url }, 403, /web pages/],
      ['Host 0.0.0.0', 'GET', { ...ok, Host: `0.0.0.0:${em.port}` }, 403, /loopback host/],
      ['Host 127.0.0.1.attacker.example', 'GET', { ...ok, Host: `127.0.0.1.attacker.example:${em.port}` }, 403, /loopback host/],
      ['PUT text/plain', 'PUT', { ...ok, 'Content-Type': 'text/plain' }, 415, /application\/json/],
      ['PUT form', 'PUT', { ...ok, 'Content-Type': 'application/x-www-form-urlencoded' }, 415, /application\/json/],
      ['PUT without a type', 'PUT', without('Content-Type'), 415, /application\/json/],
    ];
    for (const [what, method, headers, status, message] of cases) {
      const r = await raw(
        `${em.url}/__admin/${method === 'PUT' ? 'faults' : 'counters'}`,
        method,
        headers,
        method === 'PUT' ? JSON.stringify(FAULTS) : undefined,
      );
      assert.equal(r.status, status, `${what}: ${r.body}`);
      assert.match(r.body, message, what);
    }
    assert.deepEqual(em.faults(), {}, 'no refused PUT changed anything');
    for (const h of [host, `localhost:${em.port}`, `LOCALHOST:${em.port}`, `127.0.0.2:${em.port}`]) {
      assert.equal((await raw(`${em.url}/__admin/health`, 'GET', { ...ok, Host: h })).status, 200, h);
    }
    assert.deepEqual(await emulatorAdmin(em.url, 'PUT', 'faults', { Encrypt: { latencyMs: 1 } }), { Encrypt: { latencyMs: 1 } });
    assert.deepEqual(await emulatorAdmin(em.url, 'POST', 'reset'), { counters: { total: 0 }, faults: {} });
    await assert.rejects(emulatorAdmin(em.url, 'GET', 'nothing'), /404 .*no admin route/);
  });

  it(
    'a real Chromium page can neither set faults (simple POST, preflighted PUT) nor read counters after DNS rebinding',
    {
      skip: !existsSync(CHROMIUM) && `${CHROMIUM} not installed`,
    },
    async () => {
      const { chromium } = await import('playwright-core');
      // The attacker's page: any other origin on this machine (here 127.0.0.1 on another port).
      const site: Server = createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end('<!doctype html><title>a web page</title>');
      });
      await new Promise<void>((r) => site.listen(0, '127.0.0.1', r));
      const siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}/`;
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        // attacker.example resolves to 127.0.0.1, as after a DNS rebinding.
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--no-first-run',
          '--disable-dev-shm-usage',
          '--host-resolver-rules=MAP attacker.example 127.0.0.1',
        ],
        env: {
          ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'DBUS_SESSION_BUS_ADDRESS')),
          NO_AT_BRIDGE: '1',
        } as Record<string, string>,
      });
      try {
        const page = await browser.newPage();
        await page.goto(siteUrl);
        const sent = await page.evaluate(
          async ({ url, faults, header }) => {
            const out: string[] = [];
            // The request that worked before: no preflight, the browser sends it.
            await fetch(`${url}/__admin/faults`, {
              method: 'POST',
              mode: 'no-cors',
              headers: { 'Content-Type': 'text/plain' },
              body: JSON.stringify(faults),
            }).then(
              () => out.push('simple POST sent'),
              (e: Error) => out.push(`simple POST failed: ${e.message}`),
            );
            // With the admin header: the browser must ask first (preflight), and the emulator never says yes.
            await fetch(`${url}/__admin/faults`, {
              method: 'PUT',
              headers: { [header]: '1', 'Content-Type': 'application/json' },
              body: JSON.stringify(faults),
            }).then(
              (r) => out.push(`PUT answered ${r.status}`),
              () => out.push('PUT blocked'),
            );
            return out;
          },
          { url: em.url, faults: FAULTS, header: ADMIN_HEADER },
        );
        assert.equal(sent[0], 'simple POST sent', 'the browser does send the simple POST');
        assert.equal(sent[1], 'PUT blocked');
        assert.deepEqual(em.faults(), {}, 'a web page set faults');

        // DNS rebinding: once attacker.example points to 127.0.0.1, a document of the origin
        // http://attacker.example:<emulator port> (here the emulator's own 404 page) runs the
        // attacker's script, and its same-origin fetches reach the emulator without any CORS check.
        await page.goto(`http://attacker.example:${em.port}/`);
        const read = await page.evaluate(async (header) => {
          const plain = await fetch('/__admin/counters');
          const withHeader = await fetch('/__admin/counters', { headers: { [header]: '1' } });
          return [plain.status, await plain.text(), withHeader.status, await withHeader.text()] as const;
        }, ADMIN_HEADER);
        assert.equal(read[0], 403, read[1]);
        assert.equal(read[2], 403, read[3]);
        assert.doesNotMatch(read[1] + read[3], /"total"/);
      } finally {
        await browser.close();
        site.close();
      }
    },
  );
});
