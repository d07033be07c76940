// An AWS user's machine in the real UI: nothing but the AWS CLI files in ~/.aws (a [default]
// profile whose endpoint_url is the emulator, and its access key in ~/.aws/credentials) — no
// kms-envelope profile, no AWS_* variables. The Keys view shows the profile (read-only, from
// aws-config) with its region and the seeded keys; a key row's context menu makes it the default
// sealing key; Seal File writes a blob the stock AWS Encryption SDK (KmsKeyringNode +
// buildClient(...).decrypt) opens.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KMS } from '@aws-sdk/client-kms';
import { buildClient, CommitmentPolicy } from '@aws-crypto/client-node';
import { getClient, KmsKeyringNode } from '@aws-crypto/kms-keyring-node';
import { Workbench } from './workbench';

const SECRET = 's3cr3t-aws-e2e';

describe('AWS: a profile in ~/.aws shows its KMS keys in the tree with no set-up; Seal File opens with the AWS Encryption SDK', () => {
  let wb: Workbench;
  before(async () => {
    wb = await Workbench.open({
      emulator: true,
      prepare: (ctx) => {
        const e = ctx.emulator!;
        const aws = join(ctx.home, '.aws');
        mkdirSync(aws, { recursive: true });
        writeFileSync(join(aws, 'config'), ['[default]', 'region = us-east-1', `endpoint_url = ${e.url}`, ''].join('\n'));
        writeFileSync(
          join(aws, 'credentials'),
          [
            '[default]',
            `aws_access_key_id = ${e.exports.AWS_ACCESS_KEY_ID}`,
            `aws_secret_access_key = ${e.exports.AWS_SECRET_ACCESS_KEY}`,
            '',
          ].join('\n'),
          { mode: 0o600 },
        );
        writeFileSync(join(ctx.workspace, 'service.yaml'), `service: billing\npassword: ${SECRET}\n`);
      },
    });
  });
  after(async () => {
    await wb?.close();
  });

  it('the Keys view: AWS KMS → default (aws-config) → us-east-1 → the seeded keys', async () => {
    await wb.openKmsView();
    const rows = wb.treeRows('Keys');
    await rows.filter({ hasText: 'AWS KMS' }).first().waitFor({ state: 'visible', timeout: 45_000 });
    await rows.filter({ hasText: 'seed-enabled' }).first().waitFor({ state: 'visible', timeout: 45_000 });
    const texts = await wb.treeTexts('Keys');
    const at = (re: RegExp) => texts.findIndex((t) => re.test(t));
    const [provider, profile, region, key] = [/^AWS KMS/, /^default ?aws-config/, /^us-east-1/, /^seed-enabled/].map(at);
    assert.ok(
      provider >= 0 && provider < profile && profile < region && region < key,
      `AWS KMS → default (aws-config) → us-east-1 → seed-enabled expected in order: ${JSON.stringify(texts)}`,
    );
    for (const label of ['seed-disabled', 'seed-pending-deletion'])
      assert.ok(
        texts.some((t) => t.startsWith(label)),
        `${label} not listed: ${JSON.stringify(texts)}`,
      );
    assert.ok(!texts.some((t) => /^aws\//.test(t)), `an AWS managed key is listed: ${JSON.stringify(texts)}`);
    assert.ok(!texts.some((t) => /eu-west-1/.test(t)), `only the profile's region is shown: ${JSON.stringify(texts)}`);
    await wb.screenshot('aws-profile-keys-view');
  });

  it('Set as Default Sealing Key on the AWS key, then Seal File: the stock KmsKeyringNode opens the .sealed file', async () => {
    const keyRow = wb
      .treeRows('Keys')
      .filter({ hasText: /^seed-enabled/ })
      .first();
    await wb.contextMenu(keyRow, 'Set as Default Sealing Key');
    // The setting is written through the remote host: wait for the status bar to show the key.
    const status = wb.page.locator('.part.statusbar');
    for (let i = 0; i < 100 && (await status.innerText()).includes('No default key'); i++) await wb.page.waitForTimeout(100);
    assert.ok(!(await status.innerText()).includes('No default key'), 'the status bar does not show the default key');
    await wb.contextMenu(await wb.explorerRow('service.yaml'), 'Seal File');
    const note = await wb.waitForNotification(/service\.yaml\.sealed/, 30_000).catch(async (e) => {
      await wb.screenshot('aws-seal-file-FAILED');
      throw e;
    });
    assert.match(note, /Delete the plaintext original/);
    const sealed = join(wb.workspace, 'service.yaml.sealed');
    assert.ok(existsSync(sealed), `${sealed} was not written`);
    const blob = readFileSync(sealed);
    assert.ok(!blob.includes(Buffer.from(SECRET)), 'the sealed file contains the plaintext');

    const e = wb.emulator!;
    const { decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
    const keyring = new KmsKeyringNode({
      discovery: true,
      clientProvider: getClient(KMS, {
        endpoint: e.url,
        credentials: { accessKeyId: e.exports.AWS_ACCESS_KEY_ID, secretAccessKey: e.exports.AWS_SECRET_ACCESS_KEY },
      }),
    });
    const { plaintext, messageHeader } = await decrypt(keyring, blob);
    assert.equal(Buffer.from(plaintext).toString('utf8'), `service: billing\npassword: ${SECRET}\n`);
    const edks = messageHeader.encryptedDataKeys;
    assert.equal(edks.length, 1);
    assert.equal(edks[0].providerId, 'aws-kms');
    assert.match(edks[0].providerInfo, /^arn:aws:kms:us-east-1:\d{12}:key\//, 'providerInfo is the key ARN');
    await wb.screenshot('aws-seal-file-notification');
  });
});
