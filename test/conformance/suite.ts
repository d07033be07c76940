// The ONE provider conformance suite: the same test bodies run against every KmsProvider
// (local in-process, tencent and alibaba through the official SDKs against the loopback emulator,
// and any provider a test registers: extension-point.test.ts). Provider-specific expectations
// (error codes, deletion windows, which state rules a cloud has) come from each harness;
// everything else is shared.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { CancelledError, KmsEnvelopeError } from '../../src/core/errors';
import type { KmsProvider, KeyMetadata } from '../../src/core/kms/types';
import { listAllKeys } from '../../src/core/kms/list-all';
import type { Harness, HarnessFactory } from './provider-harness';
import { cliStep } from '../../src/cli/hints';

const uniq = () => randomBytes(4).toString('hex');

async function rejectsKms(p: Promise<unknown>, check: (e: KmsEnvelopeError) => void): Promise<KmsEnvelopeError> {
  const err = await p.then(
    () => assert.fail('expected the call to fail'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof KmsEnvelopeError, `expected a KmsEnvelopeError, got ${String(err)}`);
  check(err);
  return err;
}

async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** The suite for one provider (a describe block); providers.test.ts runs it for each built-in one. */
export function conformanceSuite(make: HarnessFactory): void {
  describe(`provider conformance: ${make.label}`, () => {
    let h: Harness;
    let p: KmsProvider;
    /** Who creates, disables and deletes the keys the data-key tests use (the provider itself when it can). */
    let m: KmsProvider;
    const manages = make.manages !== false;
    before(async () => {
      h = await make.create();
      p = h.provider;
      m = h.admin ?? p;
    });
    after(async () => {
      await h?.dispose();
    });

    const newKey = async (region = h.regionA, alias?: string, description?: string): Promise<KeyMetadata> =>
      m.createKey(region, { alias: alias ?? `cf-${uniq()}`, description });
    /** A request that must reach the endpoint. */
    const probe = (q: KmsProvider, signal?: AbortSignal) => (h.probe ? h.probe(q, signal) : q.listRegions({ signal }));

    it('lists its regions, including the ones the suite uses', async () => {
      const regions = await p.listRegions();
      for (const r of [h.regionA, h.regionB, h.regionPaging]) if (r) assert.ok(regions.includes(r), `${r} in ${regions.join(',')}`);
    });

    if (manages)
      it('lifecycle: create → describe → alias → description → disable → enable → disable → schedule deletion → cancel', async () => {
        const a1 = `cf-a-${uniq()}`;
        const k = await newKey(h.regionA, a1, 'first description');
        assert.equal(k.provider, p.name);
        assert.equal(k.region, h.regionA);
        assert.equal(k.state, 'Enabled');
        assert.equal(k.alias, a1);
        let d = await p.describeKey(h.regionA, k.keyId);
        assert.equal(d.keyId, k.keyId);
        assert.equal(d.state, 'Enabled');
        assert.equal(d.description, 'first description');
        assert.equal(d.alias, a1);
        assert.ok(d.createdAt && Math.abs(Date.parse(d.createdAt) - Date.now()) < 10 * 60_000, `createdAt ${d.createdAt}`);
        assert.equal((await p.describeKey(h.regionA, h.aliasRef(a1))).keyId, k.keyId, 'describe by alias');

        const a2 = `cf-b-${uniq()}`;
        await p.setAlias(h.regionA, k.keyId, a2);
        assert.equal((await p.describeKey(h.regionA, h.aliasRef(a2))).keyId, k.keyId, 'new alias resolves');
        // The new alias replaces the old one, also where the cloud lets a key carry several aliases.
        assert.equal((await p.describeKey(h.regionA, k.keyId)).alias, a2, 'the key is shown by its new alias');
        await assert.rejects(p.describeKey(h.regionA, h.aliasRef(a1)), 'the replaced alias no longer names a key');

        await p.setDescription(h.regionA, k.keyId, 'second description');
        assert.equal((await p.describeKey(h.regionA, k.keyId)).description, 'second description');

        await p.disableKey(h.regionA, k.keyId);
        assert.equal((await p.describeKey(h.regionA, k.keyId)).state, 'Disabled');
        await p.enableKey(h.regionA, k.keyId);
        assert.equal((await p.describeKey(h.regionA, k.keyId)).state, 'Enabled');
        await p.disableKey(h.regionA, k.keyId);

        const { deletionDate } = await p.scheduleDeletion(h.regionA, k.keyId, p.deletionWindow.min);
        d = await p.describeKey(h.regionA, k.keyId);
        assert.equal(d.state, 'PendingDeletion');
        const due = Date.parse(deletionDate ?? d.deletionDate ?? '');
        const expected = Date.now() + p.deletionWindow.min * 86_400_000;
        assert.ok(Math.abs(due - expected) < 2 * 86_400_000, `deletion date ${deletionDate ?? d.deletionDate}`);

        await p.cancelDeletion(h.regionA, k.keyId);
        d = await p.describeKey(h.regionA, k.keyId);
        assert.equal(d.state, h.stateAfterCancel, 'state after a cancelled deletion');
        assert.equal(d.deletionDate, undefined);
        if (d.state !== 'Enabled') await p.enableKey(h.regionA, k.keyId);
        assert.equal((await p.generateDataKey(h.regionA, k.keyId, {})).plaintext.length, 32, 'usable again');
      });

    if (manages)
      it('deletion window bounds are enforced before calling the KMS', async () => {
        const k = await newKey();
        await p.disableKey(h.regionA, k.keyId);
        await rejectsKms(p.scheduleDeletion(h.regionA, k.keyId, p.deletionWindow.min - 1), (e) => assert.equal(e.kind, 'usage'));
        await rejectsKms(p.scheduleDeletion(h.regionA, k.keyId, p.deletionWindow.max + 1), (e) => assert.equal(e.kind, 'usage'));
      });

    it('state rules: data-key operations on a disabled key fail with the cloud code and an enable hint', async () => {
      const k = await newKey();
      const dk = await p.generateDataKey(h.regionA, k.keyId, { app: 'cf' });
      await m.disableKey(h.regionA, k.keyId);
      for (const call of [
        () => p.generateDataKey(h.regionA, k.keyId, {}),
        () => p.encryptDataKey(h.regionA, k.keyId, randomBytes(32), {}),
        () => p.decryptDataKey(h.regionA, dk.keyId, dk.ciphertext, { app: 'cf' }),
      ]) {
        await rejectsKms(call(), (e) => {
          assert.equal(e.kind, 'provider');
          assert.equal(e.details.providerCode, h.codes.disabled);
          assert.equal(e.details.region, h.regionA);
          assert.match(e.message, /disabled/i);
          assert.match(e.hint ?? '', /enable/i);
        });
      }
      dk.plaintext.fill(0);
    });

    it('state rules: a key pending deletion refuses data-key operations and says to cancel the deletion', async () => {
      const k = await newKey();
      if (make.deletionRequiresDisabled) await m.disableKey(h.regionA, k.keyId);
      await m.scheduleDeletion(h.regionA, k.keyId, m.deletionWindow.default);
      await rejectsKms(p.generateDataKey(h.regionA, k.keyId, {}), (e) => {
        assert.equal(e.kind, 'provider');
        assert.equal(e.details.providerCode, h.codes.pendingDeletion);
        assert.match(e.hint ?? '', /cancel/i);
      });
      await rejectsKms(m.cancelDeletion(h.regionA, (await newKey()).keyId), (e) => {
        assert.equal(e.kind, 'provider');
        if (h.codes.notPendingDeletion) assert.equal(e.details.providerCode, h.codes.notPendingDeletion);
      });
    });

    if (make.deletionRequiresDisabled && manages) {
      it('state rules: scheduling the deletion of an enabled key is refused with "disable it first"', async () => {
        const k = await newKey();
        await rejectsKms(p.scheduleDeletion(h.regionA, k.keyId, p.deletionWindow.min), (e) => {
          assert.equal(e.kind, 'provider');
          assert.equal(e.details.providerCode, h.codes.mustBeDisabled);
          assert.match(e.hint ?? '', /Disable it first/);
        });
        assert.equal((await p.describeKey(h.regionA, k.keyId)).state, 'Enabled');
      });
    }

    if (manages)
      it('unknown keys and taken aliases give actionable errors', async () => {
        await rejectsKms(p.describeKey(h.regionA, h.missingKeyId), (e) => {
          assert.equal(e.kind, 'provider');
          assert.match(e.message, /no (local )?key|not found|does not exist/i);
          assert.match(e.hintIn(cliStep) ?? '', /keys list/);
        });
        const a = `cf-taken-${uniq()}`;
        await newKey(h.regionA, a);
        await rejectsKms(newKey(h.regionA, a), (e) => {
          assert.match(e.message, /alias/i);
          assert.match(e.hint ?? '', /another alias/);
        });
      });

    if (manages)
      it('paging: more than one page, every key exactly once, pages bounded by the page size', async () => {
        const region = h.regionPaging;
        const created = new Set<string>();
        for (let i = 0; i < 7; i++) created.add((await newKey(region)).keyId);
        const seen: string[] = [];
        let token: string | undefined;
        let pages = 0;
        do {
          const page = await p.listKeys(region, { pageSize: 3, nextToken: token });
          assert.ok(page.keys.length <= 3, `page of ${page.keys.length}`);
          for (const k of page.keys) {
            assert.equal(k.region, region);
            seen.push(k.keyId);
          }
          token = page.nextToken;
          pages++;
          assert.ok(pages < 1000);
        } while (token);
        assert.ok(pages >= 3, `pages=${pages}`);
        assert.equal(new Set(seen).size, seen.length, 'no key listed twice');
        for (const id of created) assert.ok(seen.includes(id), `${id} listed`);
        const all = await listAllKeys(p, [region, h.regionA], { pageSize: 3, concurrency: 4 });
        assert.equal(all[0].region, region);
        assert.equal(all[0].error, undefined);
        assert.deepEqual(new Set(all[0].keys.map((k) => k.keyId)), new Set(seen));
        assert.ok(all[0].pages >= 3);
        assert.ok(all[1].keys.length > 0);
      });

    it('round trips: GenerateDataKey → Decrypt and Encrypt → Decrypt (by key id and by alias)', async () => {
      const alias = `cf-rt-${uniq()}`;
      const k = await newKey(h.regionA, alias);
      const ctx = { purpose: 'conformance', file: 'a.txt' };
      const dk = await p.generateDataKey(h.regionA, h.aliasRef(alias), ctx);
      assert.equal(dk.plaintext.length, 32);
      assert.equal(dk.keyId, k.keyId, 'the alias resolves to the key id');
      const back = await p.decryptDataKey(h.regionA, dk.keyId, dk.ciphertext, { file: 'a.txt', purpose: 'conformance' });
      assert.deepEqual(back.plaintext, dk.plaintext, 'context key order does not matter');
      assert.equal(back.keyId, k.keyId);
      const raw = randomBytes(32);
      const enc = await p.encryptDataKey(h.regionA, k.keyId, raw, ctx);
      assert.equal(enc.keyId, k.keyId);
      assert.ok(!enc.ciphertext.includes(raw), 'ciphertext does not contain the plaintext');
      assert.deepEqual((await p.decryptDataKey(h.regionA, enc.keyId, enc.ciphertext, ctx)).plaintext, raw);
      const noCtx = await p.encryptDataKey(h.regionA, k.keyId, raw, {});
      assert.deepEqual((await p.decryptDataKey(h.regionA, k.keyId, noCtx.ciphertext, {})).plaintext, raw);
    });

    it('context binding: a different or missing encryption context does not decrypt', async () => {
      const k = await newKey();
      const dk = await p.generateDataKey(h.regionA, k.keyId, { tenant: 'a' });
      for (const ctx of [{ tenant: 'b' }, {}, { tenant: 'a', extra: 'x' }] as Array<Record<string, string>>) {
        await rejectsKms(p.decryptDataKey(h.regionA, k.keyId, dk.ciphertext, ctx), (e) => {
          assert.equal(e.kind, h.decryptFailureKind);
          assert.equal(e.details.region, h.regionA);
        });
      }
    });

    it('cross-region refusal: a ciphertext from region A does not decrypt in region B', async () => {
      const k = await newKey(h.regionA);
      const dk = await p.generateDataKey(h.regionA, k.keyId, {});
      const other = h.regionB ?? 'elsewhere-1';
      await rejectsKms(p.decryptDataKey(other, k.keyId, dk.ciphertext, {}), (e) => {
        assert.equal(e.details.region, other);
        assert.ok(['provider', 'usage', 'format'].includes(e.kind), e.kind);
      });
      assert.deepEqual((await p.decryptDataKey(h.regionA, k.keyId, dk.ciphertext, {})).plaintext, dk.plaintext);
    });

    it('a tampered ciphertext does not decrypt', async () => {
      const k = await newKey();
      const dk = await p.generateDataKey(h.regionA, k.keyId, {});
      const bad = Buffer.from(dk.ciphertext);
      bad[Math.floor(bad.length / 2)] ^= 0x01;
      await rejectsKms(p.decryptDataKey(h.regionA, k.keyId, bad, {}), (e) => assert.ok(e.kind === 'provider' || e.kind === 'format'));
    });

    it('an already cancelled signal fails fast with CancelledError', async () => {
      const ctl = new AbortController();
      ctl.abort();
      await assert.rejects(h.probe ? h.probe(p, ctl.signal) : p.listKeys(h.regionA, { signal: ctl.signal }), CancelledError);
    });

    if (!manages)
      it('management is refused before any request, saying how to add an AccessKey', async () => {
        const k = await newKey();
        h.emulator?.resetCounters();
        for (const call of [
          () => p.listKeys(h.regionA),
          () => p.describeKey(h.regionA, k.keyId),
          () => p.createKey(h.regionA, { alias: `cf-${uniq()}` }),
          () => p.disableKey(h.regionA, k.keyId),
          () => p.enableKey(h.regionA, k.keyId),
          () => p.setAlias(h.regionA, k.keyId, `cf-${uniq()}`),
          () => p.setDescription(h.regionA, k.keyId, 'd'),
          () => p.scheduleDeletion(h.regionA, k.keyId, p.deletionWindow.default),
          () => p.cancelDeletion(h.regionA, k.keyId),
        ]) {
          await rejectsKms(call(), (e) => {
            assert.equal(e.kind, 'usage');
            assert.equal(e.details.providerCode, 'InstanceOnlyProfile');
            assert.match(e.hint ?? '', /Add an AccessKey/);
          });
        }
        assert.deepEqual(h.emulator?.byGateway() ?? {}, {}, 'nothing was sent');
        assert.equal((await m.describeKey(h.regionA, k.keyId)).state, 'Enabled', 'the key is untouched');
      });

    if (make.remote) {
      it('fault injection: throttling and 5xx are recovered by retry (counted by the emulator)', async () => {
        const em = h.emulator!;
        const k = await newKey();
        // throttle: RequestLimitExceeded / Throttling; error: InternalError / HTTP 500 InternalFailure;
        // unavailable: HTTP 503; drop: the connection is reset after the request was read.
        for (const fault of ['throttle', 'error', 'unavailable', 'drop'] as const) {
          em.resetCounters();
          em.injectFailures(fault, 2);
          const dk = await p.generateDataKey(h.regionA, k.keyId, {});
          assert.equal(dk.plaintext.length, 32);
          assert.equal(em.count('GenerateDataKey'), 3, `${fault}: 2 failures + 1 success`);
          em.clearFaults();
        }
        // CreateKey is not repeated after a 5xx (it may have created a key) but is after throttling.
        if (!manages) return;
        em.resetCounters();
        em.injectFailures('unavailable', 1, 'CreateKey');
        await rejectsKms(newKey(), (e) => assert.match(e.hint ?? '', /unknown whether CreateKey took effect/));
        assert.equal(em.count('CreateKey'), 1);
        em.injectFailures('throttle', 1, 'CreateKey');
        await newKey();
        assert.equal(em.count('CreateKey'), 3);
        em.clearFaults();
      });

      it('fault injection: persistent throttling gives up, bounded, and says it was retried', async () => {
        const em = h.emulator!;
        em.resetCounters();
        em.injectFailures('throttle', 1000);
        try {
          await rejectsKms(manages ? p.listKeys(h.regionA) : probe(p), (e) => {
            assert.equal(e.details.retryable, true);
            assert.match(e.message, /throttled/);
            assert.match(e.hint ?? '', /retried/);
          });
          assert.equal(em.count(manages ? h.listAction : 'GenerateDataKey'), 4);
        } finally {
          em.clearFaults();
        }
      });

      it('a dead endpoint (closed port) → a clear error naming the endpoint, within a bounded time', async () => {
        const port = await closedPort();
        const dead = h.withEndpoint(`http://127.0.0.1:${port}`);
        const t0 = Date.now();
        await rejectsKms(probe(dead), (e) => {
          assert.equal(e.kind, 'provider');
          assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
          assert.match(e.message, /ECONNREFUSED/);
          assert.match(e.hint ?? '', /endpoint/);
        });
        assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
      });

      it('cancellation aborts a slow call promptly', async () => {
        const em = h.emulator!;
        em.setLatency(2000);
        try {
          const ctl = new AbortController();
          setTimeout(() => ctl.abort(), 100);
          const t0 = Date.now();
          await assert.rejects(probe(p, ctl.signal), CancelledError);
          assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms`);
        } finally {
          em.clearFaults();
        }
      });

      if (make.accessKey !== false)
        it('temporary (STS) credentials: the session token is sent and accepted; a missing token is refused', async () => {
          const sts = h.stsCredentials;
          assert.ok(sts?.securityToken, 'the emulator has an sts account');
          assert.ok((await h.withCredentials(sts).listRegions()).includes(h.regionA));
          await rejectsKms(h.withCredentials({ ...sts, securityToken: undefined }).listRegions(), (e) =>
            assert.equal(e.kind, 'credentials'),
          );
        });

      it('clock skew: a signature the cloud finds expired names the clock (or the SDK corrects its clock and sends again)', async () => {
        const skewed = await h.withSkewedEmulator!(20 * 60_000);
        try {
          if (h.correctsClockSkew) {
            assert.ok((await skewed.provider.listRegions()).includes(h.regionA), 'sent again with the corrected clock');
            return;
          }
          await rejectsKms(probe(skewed.provider), (e) => {
            assert.equal(e.kind, 'credentials');
            assert.match(e.details.providerCode ?? '', h.clockSkewCode ?? /SignatureExpire|InvalidTimeStamp\.Expired/);
            assert.match(e.hint ?? '', /clock/);
          });
        } finally {
          await skewed.stop();
        }
      });

      it('a wrong secret is refused with a credentials error naming the profile', async () => {
        const bad = h.withWrongSecret?.() ?? {
          provider: h.withCredentials({ accessKeyId: h.accessKeyId, accessKeySecret: 'wrong-secret' }),
          hint: /profiles test/,
        };
        await rejectsKms(probe(bad.provider), (e) => {
          assert.equal(e.kind, 'credentials');
          assert.match(e.hintIn(cliStep) ?? '', bad.hint);
        });
      });

      it('routing: the emulator counters show which gateway got the key operations and which the management calls', async () => {
        const em = h.emulator!;
        const g = h.gateways;
        assert.ok(g, 'the harness names the gateways of its emulator');
        const k = await newKey();
        em.resetCounters();
        const dk = await p.generateDataKey(h.regionA, k.keyId, { route: 'keys' });
        await p.decryptDataKey(h.regionA, dk.keyId, dk.ciphertext, { route: 'keys' });
        await p.encryptDataKey(h.regionA, k.keyId, randomBytes(32), {});
        const keyOps = em.byGateway();
        assert.deepEqual(Object.keys(keyOps), [g.keyOperations], `key operations went to ${JSON.stringify(keyOps)}`);
        assert.ok(keyOps[g.keyOperations] >= 3);
        em.resetCounters();
        if (g.management) {
          await p.describeKey(h.regionA, k.keyId);
          await p.listKeys(h.regionA, { pageSize: 5 });
          const mgmt = em.byGateway();
          assert.deepEqual(Object.keys(mgmt), [g.management], `management went to ${JSON.stringify(mgmt)}`);
        } else {
          await assert.rejects(p.listKeys(h.regionA), KmsEnvelopeError);
          assert.deepEqual(em.byGateway(), {}, 'no gateway was asked to list keys');
        }
      });
    }
  });
}
