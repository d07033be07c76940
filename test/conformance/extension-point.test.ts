// Proof of the extension point (docs/providers.md): a provider that nothing under src/ knows —
// its folder ./toy-provider (descriptor + implementation) and ONE registration call below — passes
// the shared conformance suite, shows in the Keys tree model, seals and unseals through the
// envelope, takes its credentials from a stored profile or its environment variable, and works
// from the command line, with no edit anywhere else.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { main } from '../../src/cli/main';
import { printError, type Io } from '../../src/cli/common';
import { openProvider, providerResolver } from '../../src/core/credentials/connect';
import { CredentialService } from '../../src/core/credentials/service';
import { inspect, sealBuffer, unsealBuffer } from '../../src/core/envelope/index';
import { createProvider, registerProvider } from '../../src/core/kms/registry';
import { MemorySecretStore } from '../../src/core/secrets';
import { KeyService } from '../../src/core/services/key-service';
import { TreeModel, type TreeNode } from '../../src/core/services/tree-model';
import type { HarnessFactory } from './provider-harness';
import { conformanceSuite } from './suite';
import { TOY_TOKEN, toyProvider } from './toy-provider/descriptor';

// The registration line.
const registration = registerProvider(toyProvider);

const dir = mkdtempSync(path.join(os.tmpdir(), 'kms-toy-'));
after(() => {
  registration.dispose();
  rmSync(dir, { recursive: true, force: true });
});

/** A credentials service with a stored `toy` profile (its API token in the secret store). */
async function serviceWithProfile(name: string): Promise<CredentialService> {
  const svc = new CredentialService({ secretStore: new MemorySecretStore(), configDir: path.join(dir, name), env: {}, homeDir: dir });
  await svc.addProfile({ provider: 'toy', name }, { apiToken: TOY_TOKEN });
  return svc;
}

const toy: HarnessFactory = {
  label: 'toy (registered by a test)',
  remote: false,
  deletionRequiresDisabled: true,
  async create() {
    const provider = await openProvider(await serviceWithProfile('conformance'), 'toy', { profile: 'conformance', env: {} });
    const unsupported = () => assert.fail('the toy provider has no endpoint');
    return {
      provider,
      regionA: 'toy-east',
      regionB: 'toy-west',
      regionPaging: 'toy-paging',
      codes: {
        disabled: 'Toy.Disabled',
        pendingDeletion: 'Toy.PendingDeletion',
        notPendingDeletion: 'Toy.NotPendingDeletion',
        mustBeDisabled: 'Toy.MustBeDisabled',
      },
      aliasRef: (a) => a,
      missingKeyId: 'toy-00000000-0000-4000-8000-000000000000',
      decryptFailureKind: 'provider',
      stateAfterCancel: 'Disabled',
      withEndpoint: unsupported,
      withCredentials: unsupported,
      accessKeyId: '',
      listAction: 'ListKeys',
      dispose: async () => undefined,
    };
  },
};

conformanceSuite(toy);

async function walk(model: TreeModel, node?: TreeNode, depth = 0): Promise<string[]> {
  const out: string[] = [];
  for (const c of await model.getChildren(node)) {
    const below = c.collapsible === 'expanded' ? await walk(model, c, depth + 1) : [];
    model.update(c);
    out.push(`${'  '.repeat(depth)}${c.label}${c.description ? ` [${c.description}]` : ''} <${c.contextValue}> (${c.icon?.id})`, ...below);
  }
  return out;
}

describe('a registered provider in the shared code', () => {
  it('the Keys tree model shows it with its profile, regions and keys', async () => {
    const creds = await serviceWithProfile('tree');
    const p = await createProvider('toy', { credentials: async () => ({ apiToken: TOY_TOKEN }) });
    const k = await p.createKey('toy-west', { alias: `tree-${Date.now()}` });
    const keys = new KeyService({ credentials: creds, createProvider: (name, opts) => createProvider(name, opts), showLocal: () => false });
    const model = new TreeModel(keys, { expandRegionsUpTo: 8 });
    try {
      assert.deepEqual(await keys.listProviders(), ['toy']);
      const text = (await walk(model)).join('\n');
      assert.match(text, /^Toy KMS <kms:provider\+toy\+profiles> \(beaker\)$/m);
      assert.match(text, /^ {2}tree <kms:profile\+toy\+keychain\+credentials> \(account\)$/m);
      const west = (await model.getChildren(model.getNode('pf:toy/tree'))).find((n) => n.label === 'toy-west')!;
      const rows = await model.getChildren(west);
      const row = rows.find((n) => n.kind === 'key' && n.key.keyId === k.keyId);
      assert.ok(row, `key row in ${rows.map((r) => r.label).join(', ')}`);
      assert.equal(row.contextValue, 'kms:key+enabled+toy+alias+disableFirst'); // the toy deletes only disabled keys
      assert.match(row.tooltip ?? '', /Toy KMS \(profile tree\)/);
    } finally {
      model.dispose();
      keys.dispose();
    }
  });

  it('seals to it and unseals through it (EDK providerId toy-kms), credentials handed in per call', async () => {
    const svc = await serviceWithProfile('envelope');
    const p = await openProvider(svc, 'toy', { profile: 'envelope', env: {} });
    const k = await p.createKey('toy-east', { alias: `env-${Date.now()}` });
    const blob = await sealBuffer(Buffer.from('toy secret'), {
      recipients: [{ provider: p, region: 'toy-east', key: k.alias! }],
      context: { app: 'toy' },
    });
    const header = await inspect(blob);
    assert.deepEqual(
      header.recipients.map((r) => [r.providerId, r.provider, r.region, r.keyId]),
      [['toy-kms', 'toy', 'toy-east', k.keyId]],
    );
    const resolve = providerResolver((name) => openProvider(svc, name, { profile: 'envelope', env: {} }));
    const out = await unsealBuffer(blob, { resolve });
    assert.equal(out.plaintext.toString(), 'toy secret');
    // A wrong token is refused by the toy cloud and mapped by the shared code to a credentials error.
    const bad = await createProvider('toy', { credentials: async () => ({ apiToken: 'not-the-token' }) });
    const err = await bad.listRegions().catch((e) => e);
    assert.equal(err.kind, 'credentials');
    assert.match(err.message, /Toy KMS rejected the credentials of profile default \(Toy\.BadToken/);
    assert.match(err.hint, /API token may be mistyped/);
  });

  it('the command line creates a key, seals and unseals with it (credentials from TOY_API_TOKEN)', async () => {
    const run = async (args: string[]) => {
      const out = new PassThrough();
      const errs = new PassThrough();
      let stdout = '';
      let stderr = '';
      out.on('data', (c) => (stdout += c));
      errs.on('data', (c) => (stderr += c));
      const env = {
        PATH: process.env.PATH,
        HOME: path.join(dir, 'home'),
        KMS_ENVELOPE_CONFIG_DIR: path.join(dir, 'cli'),
        TOY_API_TOKEN: TOY_TOKEN,
      };
      const io = { stdout: out, stderr: errs, stdin: new PassThrough(), env, signal: new AbortController().signal } as unknown as Io;
      let code: number;
      try {
        code = await main(args, io);
      } catch (x) {
        code = printError(io, x);
      }
      return { code, stdout, stderr };
    };
    const alias = `cli-${Date.now()}`;
    let r = await run(['keys', 'create', '--provider', 'toy', '--region', 'toy-east', '--alias', alias]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`seal with: kms-envelope seal <file> --key toy:toy-east:${alias}`));
    const plain = path.join(dir, 'plain.txt');
    await writeFile(plain, 'from the command line\n');
    r = await run(['seal', plain, '--key', `toy:toy-east:${alias}`]);
    assert.equal(r.code, 0, r.stderr);
    r = await run(['unseal', `${plain}.sealed`, '-o', path.join(dir, 'back.txt')]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await readFile(path.join(dir, 'back.txt'), 'utf8'), 'from the command line\n');
    r = await run(['keys', 'disable', '--provider', 'toy', '--region', 'toy-east', '--key', alias]);
    assert.equal(r.code, 0, r.stderr);
    r = await run(['seal', plain, '-o', path.join(dir, 'x.sealed'), '--key', `toy:toy-east:${alias}`]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /Toy KMS: key .* in region toy-east is disabled \(Toy\.Disabled/);
  });
});
