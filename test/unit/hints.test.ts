// Hints in the words of the front door that shows them (issue 10, item 6): core errors carry their
// next steps as intents; the CLI words them as `kms-envelope …` lines, plain text (and VS Code, in
// test/integration/extension-6-remedies.test.ts) never does. Real errors from the real providers:
// a local key disabled / pending deletion, a Tencent key disabled on the emulator's wire format.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { KmsEnvelopeError, renderHint, type NextStep } from '../../src/core/errors';
import { cliStep } from '../../src/cli/hints';
import { printError } from '../../src/cli/common';
import { LocalKmsProvider } from '../../src/core/kms/local';
import { TencentKmsProvider } from '../../src/core/kms/tencent';
import { MemorySecretStore } from '../../src/core/secrets';

const CLI_LINE = /kms-envelope (keys|profiles|inspect)/;

describe('hints: one intent, each front door its own words', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'kms-envelope-hints-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('the CLI words each next step as a command line; plain words name no CLI', () => {
    const key = { provider: 'tencent', region: 'ap-guangzhou', keyId: 'key-1', profile: 'work' };
    const cases: Array<[NextStep, string]> = [
      [{ action: 'enableKey', key }, '`kms-envelope keys enable --provider tencent --region ap-guangzhou --key key-1 --profile work`'],
      [
        { action: 'disableKey', key: { ...key, profile: 'default' } },
        '`kms-envelope keys disable --provider tencent --region ap-guangzhou --key key-1`',
      ],
      [
        { action: 'cancelDeletion', key: { provider: 'local', region: 'local', keyId: 'local-abc' } },
        '`kms-envelope keys cancel-deletion --provider local --key local-abc`',
      ],
      [
        { action: 'listKeys', provider: 'alibaba', region: 'cn-hangzhou' },
        '`kms-envelope keys list --provider alibaba --region cn-hangzhou`',
      ],
      [{ action: 'testProfile', provider: 'aws', name: 'ops' }, '`kms-envelope profiles test --provider aws --name ops`'],
      [
        { action: 'rotateSecret', provider: 'aws', name: 'ops', sts: true },
        '`kms-envelope profiles rotate --provider aws --name ops --sts`',
      ],
      [{ action: 'addProfile', provider: 'tencent' }, '`kms-envelope profiles add --provider tencent --name <name>`'],
      [{ action: 'inspect' }, '`kms-envelope inspect <file>`'],
    ];
    for (const [step, line] of cases) {
      assert.equal(cliStep(step), line);
      assert.doesNotMatch(renderHint(['Do this: ', step])!, CLI_LINE, `plain words of ${step.action}`);
    }
  });

  it('a disabled local key: the CLI prints `kms-envelope keys enable`, the plain hint names the step without it', async () => {
    const p = new LocalKmsProvider({ configDir: dir, secretStore: new MemorySecretStore() });
    const k = await p.createKey('local', { alias: 'hint-key' });
    await p.disableKey('local', k.keyId);
    const err = (await p.generateDataKey('local', k.keyId, {}).catch((e) => e)) as KmsEnvelopeError;
    assert.ok(err instanceof KmsEnvelopeError, String(err));
    assert.deepEqual(err.steps, [{ action: 'enableKey', key: { provider: 'local', region: 'local', keyId: k.keyId } }]);
    assert.equal(
      err.hintIn(cliStep),
      `The key is disabled: enable it with \`kms-envelope keys enable --provider local --key ${k.keyId}\`, or use another key.`,
    );
    assert.doesNotMatch(err.hint!, CLI_LINE);
    let stderr = '';
    const io = { stderr: { write: (s: string) => ((stderr += s), true) } } as never;
    assert.equal(printError(io, err), 3);
    assert.match(
      stderr,
      new RegExp(`→ The key is disabled: enable it with \`kms-envelope keys enable --provider local --key ${k.keyId}\``),
    );
  });

  it('a Tencent key that must be disabled before its deletion names Disable, never Enable', async () => {
    const server = http.createServer((req, res) => {
      req.resume().on('end', () => {
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({
            Response: { Error: { Code: 'ResourceUnavailable.CmkShouldBeDisabled', Message: 'disable it first' }, RequestId: 'r-1' },
          }),
        );
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const p = new TencentKmsProvider({
        profile: 'work',
        credentials: async () => ({ accessKeyId: 'AKIDx', accessKeySecret: 'y' }),
        endpoint: url,
      });
      const err = (await p.scheduleDeletion('ap-guangzhou', 'key-1', 7).catch((e) => e)) as KmsEnvelopeError;
      assert.deepEqual(
        err.steps.map((s) => s.action),
        ['disableKey'],
      );
      assert.match(
        err.hintIn(cliStep)!,
        /Disable it first: `kms-envelope keys disable --provider tencent --region ap-guangzhou --key key-1 --profile work`, then schedule the deletion again\./,
      );
    } finally {
      server.close();
    }
  });
});
