// The emulator's AWS KMS front end, driven by the OFFICIAL @aws-sdk/client-kms (SigV4, AWS JSON 1.1)
// over real HTTP on 127.0.0.1, and by the stock ESDK KMS keyring. Tampered requests go through a
// proxy that changes one byte of what the SDK sent.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  CancelKeyDeletionCommand,
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DeleteAliasCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  DisableKeyRotationCommand,
  EnableKeyCommand,
  EnableKeyRotationCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GetKeyRotationStatusCommand,
  KMS,
  KMSClient,
  ListAliasesCommand,
  type ListAliasesCommandOutput,
  ListKeysCommand,
  ScheduleKeyDeletionCommand,
  UpdateAliasCommand,
  UpdateKeyDescriptionCommand,
} from '@aws-sdk/client-kms';
import { buildClient, CommitmentPolicy } from '@aws-crypto/client-node';
import { getClient, KmsKeyringNode } from '@aws-crypto/kms-keyring-node';
import { startEmulator, type RunningEmulator } from '../../src/emulator';
import { AWS_ACTIONS } from '../../src/emulator/aws';
import { awsClient, awsFail, flipByte, startTamperProxy, type TamperProxy } from './helpers/sdk-clients';

const RA = 'us-east-1';
const RB = 'eu-west-1';
const uniq = () => randomBytes(4).toString('hex');
const text = (b: Uint8Array | undefined) => Buffer.from(b ?? []).toString();

describe('emulator: AWS KMS through the official SDK', () => {
  let em: RunningEmulator;
  let proxy: TamperProxy;
  const c = (region = RA, account = 0, url?: string) => awsClient(url ?? em.url, em.accounts[account].aws, region);
  const newKey = async (region = RA, account = 0, description = '') =>
    (await c(region, account).send(new CreateKeyCommand({ Description: description }))).KeyMetadata!;

  before(async () => {
    em = await startEmulator({ seed: true });
    proxy = await startTamperProxy(em.url);
  });
  after(async () => {
    await proxy?.close();
    await em?.stop();
  });

  it('drives every action of the emulator (and only known actions) through the SDK', async () => {
    em.resetCounters();
    const k = c();
    const acct = em.accounts[0].awsAccountId;
    const created = (await k.send(new CreateKeyCommand({ Description: 'first', Tags: [{ TagKey: 'team', TagValue: 'a' }] }))).KeyMetadata!;
    const id = created.KeyId!;
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(created.Arn, `arn:aws:kms:${RA}:${acct}:key/${id}`);
    assert.equal(created.AWSAccountId, acct);
    assert.deepEqual(
      [created.KeyState, created.Enabled, created.KeyUsage, created.KeySpec, created.Origin, created.KeyManager, created.Description],
      ['Enabled', true, 'ENCRYPT_DECRYPT', 'SYMMETRIC_DEFAULT', 'AWS_KMS', 'CUSTOMER', 'first'],
    );
    assert.ok(created.CreationDate instanceof Date && Math.abs(created.CreationDate.getTime() - Date.now()) < 600_000);

    const alias = `alias/app-${uniq()}`;
    await k.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: id }));
    for (const ref of [id, created.Arn!, alias, `arn:aws:kms:${RA}:${acct}:${alias}`]) {
      assert.equal((await k.send(new DescribeKeyCommand({ KeyId: ref }))).KeyMetadata!.KeyId, id, ref);
    }

    const keys = await k.send(new ListKeysCommand({ Limit: 1000 }));
    assert.deepEqual(
      keys.Keys!.find((x) => x.KeyId === id),
      { KeyId: id, KeyArn: created.Arn },
    );
    assert.equal(keys.Truncated, false);
    const aliases = (await k.send(new ListAliasesCommand({ KeyId: id }))).Aliases!;
    assert.equal(aliases.length, 1);
    assert.equal(aliases[0].AliasName, alias);
    assert.equal(aliases[0].AliasArn, `arn:aws:kms:${RA}:${acct}:${alias}`);
    assert.equal(aliases[0].TargetKeyId, id, 'TargetKeyId is the key id, not its ARN');
    assert.ok(aliases[0].CreationDate instanceof Date);

    const enc = await k.send(
      new EncryptCommand({ KeyId: alias, Plaintext: Buffer.from('secret text'), EncryptionContext: { b: '2', a: '1' } }),
    );
    assert.equal(enc.KeyId, created.Arn, 'outputs name the key by its ARN');
    assert.equal(enc.EncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
    assert.ok(!Buffer.from(enc.CiphertextBlob!).includes(Buffer.from('secret text')));
    const dec = await k.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { a: '1', b: '2' } }));
    assert.equal(text(dec.Plaintext), 'secret text', 'context key order does not matter');
    assert.equal(dec.KeyId, created.Arn);
    assert.equal(
      text(
        (await k.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { a: '1', b: '2' }, KeyId: alias })))
          .Plaintext,
      ),
      'secret text',
      'Decrypt with the KeyId that encrypted',
    );

    const gdk = await k.send(new GenerateDataKeyCommand({ KeyId: id, KeySpec: 'AES_256' }));
    assert.equal(gdk.Plaintext!.length, 32);
    assert.equal(gdk.KeyId, created.Arn);
    assert.deepEqual(
      Buffer.from((await k.send(new DecryptCommand({ CiphertextBlob: gdk.CiphertextBlob }))).Plaintext!),
      Buffer.from(gdk.Plaintext!),
    );
    assert.equal((await k.send(new GenerateDataKeyCommand({ KeyId: id, KeySpec: 'AES_128' }))).Plaintext!.length, 16);
    assert.equal((await k.send(new GenerateDataKeyCommand({ KeyId: id, NumberOfBytes: 1024 }))).Plaintext!.length, 1024);

    const other = await newKey();
    await k.send(new UpdateAliasCommand({ AliasName: alias, TargetKeyId: other.KeyId }));
    assert.equal((await k.send(new DescribeKeyCommand({ KeyId: alias }))).KeyMetadata!.KeyId, other.KeyId, 'the alias moved');
    const moved = (await k.send(new ListAliasesCommand({ KeyId: other.KeyId }))).Aliases![0];
    assert.equal(moved.CreationDate!.getTime(), aliases[0].CreationDate!.getTime(), 'UpdateAlias keeps the creation date');
    await k.send(new DeleteAliasCommand({ AliasName: alias }));
    assert.equal((await awsFail(k, new DescribeKeyCommand({ KeyId: alias }))).code, 'NotFoundException');

    await k.send(new UpdateKeyDescriptionCommand({ KeyId: id, Description: 'second' }));
    assert.equal((await k.send(new DescribeKeyCommand({ KeyId: id }))).KeyMetadata!.Description, 'second');

    let rot = await k.send(new GetKeyRotationStatusCommand({ KeyId: id }));
    assert.equal(rot.KeyRotationEnabled, false);
    await k.send(new EnableKeyRotationCommand({ KeyId: id, RotationPeriodInDays: 90 }));
    rot = await k.send(new GetKeyRotationStatusCommand({ KeyId: created.Arn }));
    assert.deepEqual([rot.KeyRotationEnabled, rot.RotationPeriodInDays, rot.KeyId], [true, 90, created.Arn]);
    assert.ok(rot.NextRotationDate!.getTime() > Date.now() + 89 * 86_400_000);
    await k.send(new DisableKeyRotationCommand({ KeyId: id }));
    assert.equal((await k.send(new GetKeyRotationStatusCommand({ KeyId: id }))).KeyRotationEnabled, false);

    await k.send(new DisableKeyCommand({ KeyId: id }));
    let d = (await k.send(new DescribeKeyCommand({ KeyId: id }))).KeyMetadata!;
    assert.deepEqual([d.KeyState, d.Enabled], ['Disabled', false]);
    await k.send(new EnableKeyCommand({ KeyId: created.Arn }));
    assert.equal((await k.send(new DescribeKeyCommand({ KeyId: id }))).KeyMetadata!.KeyState, 'Enabled');
    const sched = await k.send(new ScheduleKeyDeletionCommand({ KeyId: id, PendingWindowInDays: 7 }));
    assert.deepEqual([sched.KeyId, sched.KeyState, sched.PendingWindowInDays], [created.Arn, 'PendingDeletion', 7]);
    assert.ok(Math.abs(sched.DeletionDate!.getTime() - (Date.now() + 7 * 86_400_000)) < 600_000);
    d = (await k.send(new DescribeKeyCommand({ KeyId: id }))).KeyMetadata!;
    assert.deepEqual([d.KeyState, d.DeletionDate?.getTime()], ['PendingDeletion', sched.DeletionDate!.getTime()]);
    assert.equal((await k.send(new CancelKeyDeletionCommand({ KeyId: id }))).KeyId, created.Arn);
    d = (await k.send(new DescribeKeyCommand({ KeyId: id }))).KeyMetadata!;
    assert.deepEqual([d.KeyState, d.DeletionDate], ['Disabled', undefined], 'a cancelled deletion leaves the key disabled');
    const dflt = await k.send(new ScheduleKeyDeletionCommand({ KeyId: id }));
    assert.equal(dflt.PendingWindowInDays, 30, 'the default window is 30 days');

    const counted = Object.keys(em.counters())
      .filter((x) => x.startsWith('aws:'))
      .map((x) => x.slice(4));
    assert.deepEqual(new Set(counted), new Set(AWS_ACTIONS), 'every emulator action was called through the SDK');
  });

  it('the stock ESDK KMS keyring seals to keys in two regions and opens with either', async () => {
    const a = await newKey(RA);
    const b = await newKey(RB);
    const clientProvider = getClient(KMS, { endpoint: em.url, credentials: em.accounts[0].aws });
    const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
    em.resetCounters();
    const { result, messageHeader } = await encrypt(
      new KmsKeyringNode({ generatorKeyId: a.Arn, keyIds: [b.Arn!], clientProvider }),
      'hello',
      {
        encryptionContext: { purpose: 'test' },
      },
    );
    assert.deepEqual(
      messageHeader.encryptedDataKeys.map((e) => [e.providerId, e.providerInfo]),
      [
        ['aws-kms', a.Arn],
        ['aws-kms', b.Arn],
      ],
    );
    assert.deepEqual(em.counters(), { total: 2, 'aws:GenerateDataKey': 1, 'aws:Encrypt': 1 });
    for (const arn of [a.Arn!, b.Arn!]) {
      const { plaintext, messageHeader: h } = await decrypt(new KmsKeyringNode({ keyIds: [arn], clientProvider }), result);
      assert.equal(plaintext.toString(), 'hello');
      assert.equal(h.encryptionContext.purpose, 'test');
    }
    await c(RA).send(new DisableKeyCommand({ KeyId: a.KeyId }));
    await assert.rejects(decrypt(new KmsKeyringNode({ keyIds: [a.Arn!], clientProvider }), result), /disabled/);
  });

  it('key state rules answer with AWS codes', async () => {
    const k = c();
    const key = await newKey();
    const KeyId = key.KeyId!;
    const blob = (await k.send(new EncryptCommand({ KeyId, Plaintext: Buffer.from('x') }))).CiphertextBlob;
    assert.equal((await awsFail(k, new CancelKeyDeletionCommand({ KeyId }))).code, 'KMSInvalidStateException');
    await k.send(new EnableKeyCommand({ KeyId }));
    await k.send(new DisableKeyCommand({ KeyId }));
    await k.send(new DisableKeyCommand({ KeyId }));
    for (const cmd of [
      new EncryptCommand({ KeyId, Plaintext: Buffer.from('x') }),
      new GenerateDataKeyCommand({ KeyId, NumberOfBytes: 32 }),
      new DecryptCommand({ CiphertextBlob: blob }),
      new EnableKeyRotationCommand({ KeyId }),
    ]) {
      const f = await awsFail(k, cmd);
      assert.equal(f.code, 'DisabledException', cmd.constructor.name);
      assert.equal(f.message, `${key.Arn} is disabled.`);
      assert.equal(f.status, 400);
    }
    for (const days of [6, 31]) {
      const f = await awsFail(k, new ScheduleKeyDeletionCommand({ KeyId, PendingWindowInDays: days }));
      assert.equal(f.code, 'ValidationException');
      assert.match(f.message, /^1 validation error detected: Value '\d+' at 'pendingWindowInDays' failed to satisfy constraint/);
    }
    await k.send(new ScheduleKeyDeletionCommand({ KeyId, PendingWindowInDays: 30 }));
    for (const cmd of [
      new EncryptCommand({ KeyId, Plaintext: Buffer.from('x') }),
      new DecryptCommand({ CiphertextBlob: blob }),
      new EnableKeyCommand({ KeyId }),
      new DisableKeyCommand({ KeyId }),
      new ScheduleKeyDeletionCommand({ KeyId }),
      new UpdateKeyDescriptionCommand({ KeyId, Description: 'x' }),
      new CreateAliasCommand({ AliasName: `alias/p-${uniq()}`, TargetKeyId: KeyId }),
      new GetKeyRotationStatusCommand({ KeyId }),
    ]) {
      const f = await awsFail(k, cmd);
      assert.equal(f.code, 'KMSInvalidStateException', cmd.constructor.name);
      assert.equal(f.message, `${key.Arn} is pending deletion.`);
    }
    assert.equal((await k.send(new DescribeKeyCommand({ KeyId }))).KeyMetadata!.KeyState, 'PendingDeletion', 'DescribeKey still works');
    const imported = (await k.send(new CreateKeyCommand({ Origin: 'EXTERNAL' }))).KeyMetadata!;
    assert.deepEqual([imported.KeyState, imported.Origin], ['PendingImport', 'EXTERNAL']);
    assert.equal(
      (await awsFail(k, new EncryptCommand({ KeyId: imported.KeyId, Plaintext: Buffer.from('x') }))).code,
      'KMSInvalidStateException',
    );
    assert.equal((await awsFail(k, new EnableKeyCommand({ KeyId: imported.KeyId }))).code, 'KMSInvalidStateException');
    for (const bad of [
      { KeyUsage: 'SIGN_VERIFY' as const, KeySpec: 'RSA_2048' as const },
      { MultiRegion: true },
      { Origin: 'AWS_CLOUDHSM' as const },
    ])
      assert.equal((await awsFail(k, new CreateKeyCommand(bad))).code, 'UnsupportedOperationException', JSON.stringify(bad));
  });

  it('the seeded keys are there in two regions with their aliases and states; the AWS managed key cannot be used or changed directly', async () => {
    for (const region of [RA, RB]) {
      const k = c(region);
      const aliases = (await k.send(new ListAliasesCommand({}))).Aliases!;
      const state: Record<string, string> = {};
      for (const a of aliases.filter((x) => x.AliasName!.startsWith('alias/seed-')))
        state[a.AliasName!] = (await k.send(new DescribeKeyCommand({ KeyId: a.TargetKeyId }))).KeyMetadata!.KeyState!;
      assert.deepEqual(state, {
        'alias/seed-enabled': 'Enabled',
        'alias/seed-disabled': 'Disabled',
        'alias/seed-pending-deletion': 'PendingDeletion',
      });
    }
    const k = c(RA);
    const managed = (await k.send(new DescribeKeyCommand({ KeyId: 'alias/aws/secretsmanager' }))).KeyMetadata!;
    assert.equal(managed.KeyManager, 'AWS');
    assert.equal((await k.send(new GetKeyRotationStatusCommand({ KeyId: managed.KeyId }))).KeyRotationEnabled, true);
    for (const cmd of [
      new EncryptCommand({ KeyId: 'alias/aws/secretsmanager', Plaintext: Buffer.from('x') }),
      new GenerateDataKeyCommand({ KeyId: managed.KeyId, NumberOfBytes: 32 }),
      new DisableKeyCommand({ KeyId: managed.KeyId }),
      new ScheduleKeyDeletionCommand({ KeyId: managed.KeyId }),
      new UpdateKeyDescriptionCommand({ KeyId: managed.KeyId, Description: 'mine' }),
    ]) {
      const f = await awsFail(k, cmd);
      assert.equal(f.code, 'AccessDeniedException', cmd.constructor.name);
      assert.match(f.message, /is not authorized to perform: kms:\w+ on resource: arn:aws:kms:us-east-1:\d{12}:key\//);
    }
  });

  it('aliases: prefix, pattern, reserved alias/aws/, unique per account and region, key-only targets', async () => {
    const k = c();
    const { KeyId, Arn } = await newKey();
    const bad: Array<[string, string]> = [
      ['no-prefix', 'InvalidAliasNameException'],
      ['alias/', 'InvalidAliasNameException'],
      ['alias/aws/mine', 'InvalidAliasNameException'],
      ['alias/has space', 'ValidationException'],
      [`alias/${'x'.repeat(251)}`, 'ValidationException'],
    ];
    for (const [name, code] of bad)
      assert.equal((await awsFail(k, new CreateAliasCommand({ AliasName: name, TargetKeyId: KeyId }))).code, code, name);
    const name = `alias/dup-${uniq()}:a/b_c`;
    await k.send(new CreateAliasCommand({ AliasName: name, TargetKeyId: Arn }));
    const dup = await awsFail(k, new CreateAliasCommand({ AliasName: name, TargetKeyId: KeyId }));
    assert.equal(dup.code, 'AlreadyExistsException');
    assert.match(dup.message, /already exists/);
    await c(RB).send(new CreateAliasCommand({ AliasName: name, TargetKeyId: (await newKey(RB)).KeyId }));
    await c(RA, 1).send(new CreateAliasCommand({ AliasName: name, TargetKeyId: (await newKey(RA, 1)).KeyId }));
    assert.equal(
      (await awsFail(k, new CreateAliasCommand({ AliasName: `alias/x-${uniq()}`, TargetKeyId: name }))).code,
      'NotFoundException',
      'an alias is no target',
    );
    assert.equal((await awsFail(k, new EnableKeyCommand({ KeyId: name }))).code, 'NotFoundException', 'EnableKey takes no alias');
    assert.equal(
      (await awsFail(k, new UpdateAliasCommand({ AliasName: `alias/none-${uniq()}`, TargetKeyId: KeyId }))).code,
      'NotFoundException',
    );
    assert.equal((await awsFail(k, new DeleteAliasCommand({ AliasName: `alias/none-${uniq()}` }))).code, 'NotFoundException');
    assert.equal((await awsFail(k, new DescribeKeyCommand({ KeyId: 'alias/aws/none' }))).code, 'NotFoundException');
    const two = `alias/two-${uniq()}`;
    await k.send(new CreateAliasCommand({ AliasName: two, TargetKeyId: KeyId }));
    assert.deepEqual(
      (await k.send(new ListAliasesCommand({ KeyId }))).Aliases!.map((a) => a.AliasName),
      [name, two].sort(),
      'a key can have several aliases',
    );
  });

  it('paging: Limit, Marker/NextMarker/Truncated exactly, bad markers refused', async () => {
    const region = 'ap-southeast-2';
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await newKey(region)).KeyId!);
    for (const [i, id] of ids.entries()) await c(region).send(new CreateAliasCommand({ AliasName: `alias/p${i}`, TargetKeyId: id }));
    const k = c(region);
    const seen: string[] = [];
    let marker: string | undefined;
    let pages = 0;
    do {
      const p = await k.send(new ListKeysCommand({ Limit: 2, Marker: marker }));
      pages++;
      assert.ok(p.Keys!.length >= 1 && p.Keys!.length <= 2, 'no empty page');
      assert.equal(p.Truncated, p.NextMarker !== undefined, 'NextMarker exactly when Truncated');
      seen.push(...p.Keys!.map((x) => x.KeyId!));
      marker = p.NextMarker;
    } while (marker);
    assert.deepEqual(seen, ids, 'oldest first, each key once');
    assert.equal(pages, 3);
    const last = await k.send(new ListKeysCommand({ Limit: 5 }));
    assert.deepEqual([last.Keys!.length, last.Truncated, last.NextMarker], [5, false, undefined], 'a full last page is not truncated');
    const aliasPages: string[][] = [];
    marker = undefined;
    do {
      const p: ListAliasesCommandOutput = await k.send(new ListAliasesCommand({ Limit: 3, Marker: marker }));
      aliasPages.push(p.Aliases!.map((a) => a.AliasName!));
      marker = p.NextMarker;
    } while (marker);
    assert.deepEqual(aliasPages, [
      ['alias/p0', 'alias/p1', 'alias/p2'],
      ['alias/p3', 'alias/p4'],
    ]);
    for (const bad of ['nonsense', 'azE=', Buffer.from('a1\nalias/p0').toString('base64url')])
      assert.equal((await awsFail(k, new ListKeysCommand({ Marker: bad }))).code, 'InvalidMarkerException', bad);
    assert.equal((await awsFail(k, new ListKeysCommand({ Limit: 1001 }))).code, 'ValidationException');
    assert.equal((await awsFail(k, new ListKeysCommand({ Limit: 0 }))).code, 'ValidationException');
    assert.equal((await awsFail(k, new ListAliasesCommand({ Limit: 101 }))).code, 'ValidationException');
    assert.equal((await k.send(new ListKeysCommand({}))).Keys!.length, 5, 'default Limit 100');
  });

  it('size limits and parameter checks', async () => {
    const k = c();
    const { KeyId } = await newKey();
    assert.ok((await k.send(new EncryptCommand({ KeyId, Plaintext: randomBytes(4096) }))).CiphertextBlob);
    assert.equal((await awsFail(k, new EncryptCommand({ KeyId, Plaintext: randomBytes(4097) }))).code, 'ValidationException');
    assert.equal((await awsFail(k, new EncryptCommand({ KeyId, Plaintext: undefined }))).code, 'ValidationException');
    assert.equal(
      (await awsFail(k, new EncryptCommand({ KeyId, Plaintext: Buffer.from('x'), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }))).code,
      'InvalidKeyUsageException',
    );
    assert.equal(
      (await awsFail(k, new EncryptCommand({ KeyId, Plaintext: Buffer.from('x'), GrantTokens: Array(11).fill('t') }))).code,
      'ValidationException',
    );
    for (const bad of [{ NumberOfBytes: 1025 }, { NumberOfBytes: 0 }, {}, { NumberOfBytes: 32, KeySpec: 'AES_256' as const }])
      assert.equal((await awsFail(k, new GenerateDataKeyCommand({ KeyId, ...bad }))).code, 'ValidationException', JSON.stringify(bad));
    const dry = await awsFail(k, new EncryptCommand({ KeyId, Plaintext: Buffer.from('x'), DryRun: true }));
    assert.deepEqual([dry.code, dry.status], ['DryRunOperationException', 412]);
    assert.equal((await awsFail(k, new CreateKeyCommand({ Description: 'x'.repeat(8193) }))).code, 'ValidationException');
    const acct = em.accounts[0].awsAccountId;
    const cases: Array<[string, string]> = [
      ['not-a-key-id', 'NotFoundException'],
      ['00000000-0000-4000-8000-000000000000', 'NotFoundException'],
      [`arn:aws:kms:${RA}:${acct}:key`, 'NotFoundException'],
      [`arn:aws:kms:${RA}:${acct}:key/`, 'NotFoundException'],
      [`arn:aws:s3:${RA}:${acct}:key/${KeyId}`, 'NotFoundException'],
      [`arn:aws:kms:${RB}:${acct}:key/${KeyId}`, 'NotFoundException'],
      [`arn:aws:kms:${RA}:${em.accounts[1].awsAccountId}:key/${KeyId}`, 'AccessDeniedException'],
    ];
    for (const [ref, code] of cases) assert.equal((await awsFail(k, new DescribeKeyCommand({ KeyId: ref }))).code, code, ref);
    const missing = await awsFail(k, new DescribeKeyCommand({ KeyId: '00000000-0000-4000-8000-000000000000' }));
    assert.equal(missing.message, `Key 'arn:aws:kms:${RA}:${acct}:key/00000000-0000-4000-8000-000000000000' does not exist`);
  });

  it('ciphertexts: wrong context, another key, region or account, or a changed byte do not decrypt', async () => {
    const key = await newKey();
    const KeyId = key.KeyId!;
    const blob = (await c().send(new EncryptCommand({ KeyId, Plaintext: Buffer.from('payload'), EncryptionContext: { tenant: 'a' } })))
      .CiphertextBlob!;
    for (const ctx of [{ tenant: 'b' }, { tenant: 'a', x: 'y' }, undefined] as Array<Record<string, string> | undefined>) {
      assert.equal(
        (await awsFail(c(), new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: ctx }))).code,
        'InvalidCiphertextException',
        String(ctx),
      );
    }
    const other = await newKey();
    assert.equal(
      (await awsFail(c(), new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { tenant: 'a' }, KeyId: other.Arn }))).code,
      'IncorrectKeyException',
    );
    assert.equal(
      (await awsFail(c(RB), new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { tenant: 'a' } }))).code,
      'InvalidCiphertextException',
      'cross-region',
    );
    assert.equal(
      (await awsFail(c(RA, 1), new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { tenant: 'a' } }))).code,
      'AccessDeniedException',
      'cross-account',
    );
    assert.equal(
      (await awsFail(c(), new DecryptCommand({ CiphertextBlob: flipByte(Buffer.from(blob), -3), EncryptionContext: { tenant: 'a' } })))
        .code,
      'InvalidCiphertextException',
      'changed ciphertext byte',
    );
    const raw = Buffer.from(blob);
    for (let i = 5; i < raw.length; i += 7) {
      const f = await awsFail(c(), new DecryptCommand({ CiphertextBlob: flipByte(raw, i), EncryptionContext: { tenant: 'a' } }));
      assert.equal(f.code, 'InvalidCiphertextException', `byte ${i} changed`);
    }
    assert.equal(
      (await awsFail(c(), new DecryptCommand({ CiphertextBlob: Buffer.from('no blob at all') }))).code,
      'InvalidCiphertextException',
    );
  });

  it('accounts are separate: the second account cannot see or use the first account’s keys', async () => {
    const { KeyId } = await newKey();
    const second = c(RA, 1);
    assert.equal((await awsFail(second, new DescribeKeyCommand({ KeyId }))).code, 'NotFoundException');
    assert.equal((await awsFail(second, new EncryptCommand({ KeyId, Plaintext: Buffer.from('x') }))).code, 'NotFoundException');
    assert.ok(!(await second.send(new ListKeysCommand({ Limit: 1000 }))).Keys!.some((x) => x.KeyId === KeyId));
  });

  it('authentication: unknown key id, wrong secret, session tokens, an expired session', async () => {
    const a = em.accounts[0].aws;
    const unknown = await awsFail(awsClient(em.url, { ...a, accessKeyId: 'AKIAXXXXXXXXXXXXXXXX' }), new ListKeysCommand({}));
    assert.deepEqual(
      [unknown.code, unknown.message],
      ['UnrecognizedClientException', 'The security token included in the request is invalid.'],
    );
    const wrong = await awsFail(awsClient(em.url, { ...a, secretAccessKey: a.secretAccessKey + 'x' }), new ListKeysCommand({}));
    assert.equal(wrong.code, 'InvalidSignatureException');
    assert.match(wrong.message, /^The request signature we calculated does not match the signature you provided/);
    const sts = em.accounts.find((x) => x.name === 'sts')!.aws;
    assert.ok(sts.sessionToken && sts.accessKeyId.startsWith('ASIA'));
    assert.ok((await awsClient(em.url, sts).send(new ListKeysCommand({}))).Keys, 'STS credentials with their token');
    for (const cred of [
      { ...sts, sessionToken: undefined },
      { ...sts, sessionToken: sts.sessionToken + 'x' },
      { ...a, sessionToken: 'tok' },
    ])
      assert.equal((await awsFail(awsClient(em.url, cred), new ListKeysCommand({}))).code, 'UnrecognizedClientException');
    const expired = await awsFail(awsClient(em.url, sts.expired!), new ListKeysCommand({}));
    assert.deepEqual([expired.code, expired.message], ['ExpiredTokenException', 'The security token included in the request is expired']);
    const region = await awsFail(awsClient(em.url, a, 'mars-north-1'), new ListKeysCommand({}));
    assert.deepEqual(
      [region.code, region.message],
      ['InvalidSignatureException', "Credential should be scoped to a valid region, not 'mars-north-1'."],
    );
  });

  it('clock skew: a server 6 minutes ahead refuses with "Signature expired"; the SDK corrects its clock from Date and retries', async () => {
    const skewed = await startEmulator({ now: () => Date.now() + 6 * 60_000 });
    try {
      const f = await awsFail(awsClient(skewed.url, skewed.accounts[0].aws), new ListKeysCommand({}));
      assert.equal(f.code, 'InvalidSignatureException');
      assert.match(f.message, /^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 5 min\.\)$/);
      const retrying = awsClient(skewed.url, skewed.accounts[0].aws, RA, { maxAttempts: 3 });
      const ok = await retrying.send(new ListKeysCommand({}));
      assert.equal(ok.$metadata.attempts, 2, 'the second attempt, signed with the corrected clock, goes through');
    } finally {
      await skewed.stop();
    }
  });

  it('one changed byte in what the SDK sent (body, a signed header, the date, the scope, the signature, the token) → refused', async () => {
    const k = awsClient(proxy.url, em.accounts[0].aws);
    const { KeyId } = await newKey();
    proxy.mutate = undefined;
    await k.send(new EncryptCommand({ KeyId, Plaintext: Buffer.from('abc') }));
    assert.ok(proxy.last, 'the proxy saw the request');
    assert.match(proxy.last.headers.authorization, /SignedHeaders=[^,]*host;[^,]*x-amz-date/);
    const older = (d: string) => {
      const t = Date.UTC(+d.slice(0, 4), +d.slice(4, 6) - 1, +d.slice(6, 8), +d.slice(9, 11), +d.slice(11, 13), +d.slice(13, 15)) - 600_000;
      return new Date(t)
        .toISOString()
        .replace(/[-:]/g, '')
        .replace(/\.\d{3}/, '');
    };
    const cases: Array<[string, (r: NonNullable<TamperProxy['last']>) => void, string, RegExp?]> = [
      ['body byte', (r) => (r.body = flipByte(r.body, 10)), 'InvalidSignatureException', /x-amz-content-sha256/],
      [
        'body byte with a matching content hash',
        (r) => {
          r.body = flipByte(r.body, 10);
          r.headers['x-amz-content-sha256'] = createHash('sha256').update(r.body).digest('hex');
        },
        'InvalidSignatureException',
        /does not match the signature you provided/,
      ],
      ['x-amz-target (signed)', (r) => (r.headers['x-amz-target'] = 'TrentService.Decrypt'), 'InvalidSignatureException'],
      ['host (signed)', (r) => (r.headers.host = r.headers.host.replace('127.0.0.1', '127.0.0.2')), 'InvalidSignatureException'],
      [
        'x-amz-date +1 s',
        (r) => (r.headers['x-amz-date'] = r.headers['x-amz-date'].replace(/(\d)Z$/, (_m, d: string) => `${(+d + 1) % 10}Z`)),
        'InvalidSignatureException',
      ],
      [
        'x-amz-date 10 min back',
        (r) => (r.headers['x-amz-date'] = older(r.headers['x-amz-date'])),
        'InvalidSignatureException',
        /^Signature expired/,
      ],
      [
        'signature byte',
        (r) =>
          (r.headers.authorization = r.headers.authorization.replace(
            /Signature=(.)/,
            (_m, ch: string) => `Signature=${ch === 'a' ? 'b' : 'a'}`,
          )),
        'InvalidSignatureException',
      ],
      [
        'scope service',
        (r) => (r.headers.authorization = r.headers.authorization.replace('/kms/', '/kmt/')),
        'InvalidSignatureException',
        /correct service: 'kms'/,
      ],
      [
        'scope region',
        (r) => (r.headers.authorization = r.headers.authorization.replace('/us-east-1/', '/us-east-2/')),
        'InvalidSignatureException',
        /does not match the signature/,
      ],
      [
        'scope date',
        (r) =>
          (r.headers.authorization = r.headers.authorization.replace(
            /Credential=([^/]+)\/(\d{7})(\d)/,
            (_m, id: string, d: string, e: string) => `Credential=${id}/${d}${(+e + 1) % 10}`,
          )),
        'InvalidSignatureException',
        /Date in Credential scope does not match/,
      ],
      [
        'access key id',
        (r) => (r.headers.authorization = r.headers.authorization.replace('Credential=AKIA', 'Credential=AKIB')),
        'UnrecognizedClientException',
      ],
      [
        'host not signed',
        (r) => (r.headers.authorization = r.headers.authorization.replace('host;', '')),
        'InvalidSignatureException',
        /'Host' or ':authority' must be a 'SignedHeader'/,
      ],
      ['no Authorization', (r) => delete (r.headers as Record<string, string>).authorization, 'MissingAuthenticationTokenException'],
      [
        'Authorization cut short',
        (r) => (r.headers.authorization = r.headers.authorization.replace(/, Signature=.*/, '')),
        'IncompleteSignatureException',
      ],
    ];
    for (const [label, change, code, message] of cases) {
      proxy.mutate = (r) => {
        change(r);
        return r;
      };
      try {
        const f = await awsFail(k, new EncryptCommand({ KeyId, Plaintext: Buffer.from('abc') }));
        assert.equal(f.code, code, label);
        if (message) assert.match(f.message, message, label);
      } finally {
        proxy.mutate = undefined;
      }
    }
    // A session token changed by one byte (STS credentials, token signed).
    const sts = em.accounts.find((x) => x.name === 'sts')!.aws;
    const ks = awsClient(proxy.url, sts);
    proxy.mutate = (r) => {
      r.headers['x-amz-security-token'] = r.headers['x-amz-security-token'].replace(/.$/, (ch) => (ch === 'A' ? 'B' : 'A'));
      return r;
    };
    try {
      assert.equal((await awsFail(ks, new ListKeysCommand({}))).code, 'UnrecognizedClientException', 'session token byte');
    } finally {
      proxy.mutate = undefined;
    }
    // The untouched request still goes through the same proxy.
    assert.ok((await k.send(new EncryptCommand({ KeyId, Plaintext: Buffer.from('abc') }))).CiphertextBlob);
  });

  it('protocol errors: unknown operation, wrong content type, body that is no JSON object (each signed by the SDK)', async () => {
    // A build-step middleware changes the request before the SDK signs it, so only the emulator's
    // protocol checks can refuse it.
    const kms = new KMSClient({ region: RA, endpoint: em.url, credentials: em.accounts[0].aws, maxAttempts: 1 });
    kms.middlewareStack.add(
      (next) => async (args: any) => {
        args.request.headers['x-amz-target'] = 'TrentService.FrobnicateKey';
        return next(args);
      },
      { step: 'build', name: 'renameTarget' },
    );
    const unknown = await awsFail(kms, new ListKeysCommand({}));
    assert.equal(unknown.code, 'UnknownOperationException');
    const ct = new KMSClient({ region: RA, endpoint: em.url, credentials: em.accounts[0].aws, maxAttempts: 1 });
    ct.middlewareStack.add(
      (next) => async (args: any) => {
        args.request.headers['content-type'] = 'application/json';
        return next(args);
      },
      { step: 'build', name: 'wrongContentType' },
    );
    assert.equal((await awsFail(ct, new ListKeysCommand({}))).code, 'SerializationException');
    const arr = new KMSClient({ region: RA, endpoint: em.url, credentials: em.accounts[0].aws, maxAttempts: 1 });
    arr.middlewareStack.add(
      (next) => async (args: any) => {
        args.request.body = '[]'; // the same length as the SDK's {}
        return next(args);
      },
      { step: 'build', name: 'arrayBody' },
    );
    assert.equal((await awsFail(arr, new ListKeysCommand({}))).code, 'SerializationException');
  });

  it('fault injection: throttle (retried by the SDK), server error, 503, dropped connection, latency; counted per action', async () => {
    const k = c();
    const { KeyId } = await newKey();
    em.resetCounters();
    em.setFaults({
      'aws:Encrypt': { throttle: { count: 1 }, error: { count: 1 } },
      'aws:ListKeys': { unavailable: { count: 1 } },
      'tencent:*': { drop: { count: 5 } },
    });
    const codes = [
      await awsFail(k, new EncryptCommand({ KeyId, Plaintext: Buffer.from('x') })),
      await awsFail(k, new EncryptCommand({ KeyId, Plaintext: Buffer.from('x') })),
    ]
      .map((f) => `${f.code} ${f.status}`)
      .sort();
    assert.deepEqual(codes, ['KMSInternalException 500', 'ThrottlingException 400']);
    assert.ok((await k.send(new EncryptCommand({ KeyId, Plaintext: Buffer.from('x') }))).CiphertextBlob, 'counts are used up');
    const unavailable = await awsFail(k, new ListKeysCommand({}));
    assert.deepEqual([unavailable.code, unavailable.status], ['DependencyTimeoutException', 503]);
    assert.ok((await k.send(new ListKeysCommand({}))).Keys, 'tencent:* rules do not touch AWS');
    em.setFaults({ 'aws:Encrypt': { throttle: { count: 1 } } });
    const retried = await c(RA, 0, em.url)
      .send(new EncryptCommand({ KeyId, Plaintext: Buffer.from('x') }))
      .catch((e) => e);
    assert.equal(retried.name, 'ThrottlingException', 'one attempt only');
    em.setFaults({ 'aws:Encrypt': { throttle: { count: 1 } } });
    const again = await awsClient(em.url, em.accounts[0].aws, RA, { maxAttempts: 3 }).send(
      new EncryptCommand({ KeyId, Plaintext: Buffer.from('x') }),
    );
    assert.equal(again.$metadata.attempts, 2, 'the SDK retries a ThrottlingException');
    em.setFaults({ DescribeKey: { drop: { count: 1 } } });
    const dropped = await awsFail(k, new DescribeKeyCommand({ KeyId }));
    assert.match(dropped.message + dropped.code, /socket hang up|ECONNRESET|other side closed|terminated/i);
    em.setFaults({ 'aws:*': { latencyMs: 300 } });
    const t0 = Date.now();
    await k.send(new ListAliasesCommand({}));
    assert.ok(Date.now() - t0 >= 290, `latency ${Date.now() - t0} ms`);
    em.setFaults({});
    const counters = em.counters();
    assert.equal(counters['aws:Encrypt'], 6);
    assert.equal(counters['aws:ListKeys'], 2);
    assert.equal(counters['aws:DescribeKey'], 1);
    assert.equal(counters['aws:ListAliases'], 1);
    assert.equal(counters.total, 10);
  });
});
