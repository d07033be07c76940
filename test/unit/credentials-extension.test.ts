/**
 * The extension-host layer of credentials (src/extension/profiles.ts, secret-storage.ts) in plain
 * Node: the `vscode` module is replaced by a small scripted stand-in (input boxes, quick picks and
 * message buttons answer from a script; SecretStorage and globalState are maps), while everything
 * below it is real: CredentialService, profiles.json on disk, the Tencent provider and its official
 * SDK against a canned KMS on 127.0.0.1, and (under scripts/with-keyring.sh) the keytar probe.
 * The same commands run inside a real VS Code in test/integration.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as http from 'node:http';
import Module from 'node:module';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { CredentialService } from '../../src/core/credentials/service';
import type { CreateProviderFn } from '../../src/core/credentials/test-profile';
import { credentialsError } from '../../src/core/errors';
import { createProvider } from '../../src/core/kms/registry';
import { KEYCHAIN_SERVICE, KeytarSecretStore, type SecretStore } from '../../src/core/secrets';

const hex = (n: number) => randomBytes(n).toString('hex');

// ---- a scripted stand-in for the `vscode` module --------------------------------------------------

type Answer = (opts: any, items?: any[]) => unknown;
const ui = {
  inputs: [] as Answer[],
  picks: [] as Answer[],
  /** Button chosen for each message that offers buttons, in order; absent = dismissed. */
  buttons: [] as Array<string | undefined>,
  messages: [] as Array<{ level: string; text: string; modal: boolean }>,
};
const commands = new Map<string, (...a: unknown[]) => unknown>();
const disposable = { dispose() {} };
const event = () => disposable;

function message(level: string) {
  return async (text: string, ...rest: unknown[]) => {
    const opts = rest[0] && typeof rest[0] === 'object' ? (rest.shift() as { modal?: boolean; detail?: string }) : undefined;
    ui.messages.push({ level, text: text + (opts?.detail ? `\n${opts.detail}` : ''), modal: !!opts?.modal });
    if (!rest.length) return undefined;
    const b = ui.buttons.shift();
    if (b !== undefined) assert.ok(rest.includes(b), `button ${b} not offered: ${rest.join(', ')}`);
    return b;
  };
}

const fakeVscode = {
  window: {
    async showInputBox(opts: { validateInput?: (v: string) => string | undefined; password?: boolean; prompt?: string }) {
      const next = ui.inputs.shift();
      assert.ok(next, `unexpected input box: ${opts.prompt}`);
      const v = next(opts) as string | undefined;
      if (v !== undefined && opts.validateInput) {
        const problem = opts.validateInput(v);
        assert.equal(problem, undefined, `the input box refused "${opts.password ? '***' : v}": ${problem}`);
      }
      return v;
    },
    async showQuickPick(items: any[], opts: unknown) {
      const next = ui.picks.shift();
      assert.ok(next, 'unexpected quick pick');
      return next(opts, items);
    },
    showInformationMessage: message('info'),
    showWarningMessage: message('warn'),
    showErrorMessage: message('error'),
    async withProgress(_o: unknown, task: (p: unknown, t: unknown) => Promise<unknown>) {
      return task({ report() {} }, { isCancellationRequested: false, onCancellationRequested: event });
    },
  },
  commands: {
    registerCommand(id: string, fn: (...a: unknown[]) => unknown) {
      commands.set(id, fn);
      return { dispose: () => commands.delete(id) };
    },
    async executeCommand(id: string, ...args: unknown[]) {
      return commands.get(id)?.(...args);
    },
  },
  workspace: {
    createFileSystemWatcher() {
      return { onDidChange: event, onDidCreate: event, onDidDelete: event, dispose() {} };
    },
  },
  RelativePattern: class {
    constructor(
      public base: unknown,
      public pattern: string,
    ) {}
  },
  Uri: { file: (p: string) => ({ fsPath: p, scheme: 'file' }) },
  env: { remoteName: undefined as string | undefined },
  ProgressLocation: { Notification: 15 },
};

const moduleAny = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown };
const originalLoad = moduleAny._load;
moduleAny._load = function (request: string, ...rest: unknown[]) {
  if (request === 'vscode') return fakeVscode;
  return originalLoad.call(this, request, ...rest);
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const ext = require('../../src/extension/profiles') as typeof import('../../src/extension/profiles');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const storage = require('../../src/extension/secret-storage') as typeof import('../../src/extension/secret-storage');

function fakeContext() {
  const secrets = new Map<string, string>();
  const state = new Map<string, unknown>();
  return {
    subscriptions: [] as Array<{ dispose(): void }>,
    secretsMap: secrets,
    secrets: {
      get: async (k: string) => secrets.get(k),
      store: async (k: string, v: string) => void secrets.set(k, v),
      delete: async (k: string) => void secrets.delete(k),
      onDidChange: event,
    },
    globalState: {
      get: (k: string) => state.get(k),
      update: async (k: string, v: unknown) => void state.set(k, v),
      keys: () => [...state.keys()],
    },
  };
}

function fakeLog() {
  const lines: string[] = [];
  const rec = (lvl: string) => (m: string | Error) => lines.push(`${lvl} ${m instanceof Error ? m.message : m}`);
  return {
    lines,
    shown: 0,
    info: rec('info'),
    warn: rec('warn'),
    error: rec('error'),
    debug: rec('debug'),
    trace: rec('trace'),
    show() {},
  };
}

// ---- per-test state ---------------------------------------------------------------------------------

interface Ctx {
  root: string;
  secrets: string[];
  servers: http.Server[];
  log: ReturnType<typeof fakeLog>;
  context: ReturnType<typeof fakeContext>;
  service: CredentialService;
}
let ctx: Ctx;

async function regionServer(reply: 'ok' | 'authfail') {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify(
          reply === 'ok'
            ? { Response: { Regions: ['ap-guangzhou', 'ap-shanghai', 'ap-beijing'], RequestId: 'r1' } }
            : { Response: { Error: { Code: 'AuthFailure.SecretIdNotFound', Message: 'The SecretId is not found' }, RequestId: 'r2' } },
        ),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  ctx.servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const cloudFactory: CreateProviderFn = (name, o) =>
  createProvider(name, {
    profile: o.profile,
    credentials: o.credentials,
    settings: o.settings,
    endpoint: o.endpoint,
    retry: { maxAttempts: 1 },
  });

function creds() {
  const c = { id: `AKID${hex(14)}`, secret: `sk${hex(16)}` };
  ctx.secrets.push(c.id, c.secret);
  return c;
}

const pickBy =
  (pred: (item: any) => boolean): Answer =>
  (_o, items) =>
    items!.find(pred);
const type =
  (v: string): Answer =>
  () =>
    v;

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fsp.readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

beforeEach(async () => {
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'kmse-ext-'));
  const context = fakeContext();
  const log = fakeLog();
  const store = new storage.VscodeSecretStore(context.secrets as never);
  ctx = {
    root,
    secrets: [],
    servers: [],
    log,
    context,
    service: new CredentialService({ secretStore: store, configDir: path.join(root, 'config'), env: {}, homeDir: path.join(root, 'home') }),
  };
  ui.inputs.length = 0;
  ui.picks.length = 0;
  ui.buttons.length = 0;
  ui.messages.length = 0;
  commands.clear();
  ext.registerProfileCommands(context as never, ctx.service, log as never, cloudFactory);
});

afterEach(async () => {
  for (const s of ctx.servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  assert.equal(ui.inputs.length + ui.picks.length + ui.buttons.length, 0, 'the command did not ask everything the script expected');
  for (const f of await walk(ctx.root)) {
    const text = await fsp.readFile(f, 'latin1');
    for (const s of ctx.secrets) assert.ok(!text.includes(s), `secret value found in ${f}`);
  }
  const shown = ui.messages.map((m) => m.text).join('\n') + ctx.log.lines.join('\n');
  for (const s of ctx.secrets) assert.ok(!shown.includes(s), 'secret value in a message or the log');
  await fsp.rm(ctx.root, { recursive: true, force: true });
});

// ---- tests ----------------------------------------------------------------------------------------

describe('extension: Add Profile', () => {
  function scriptAdd(c: { id: string; secret: string }, name: string, endpoint: string, regions = '') {
    ui.picks.push(pickBy((i) => i.provider === 'tencent'));
    ui.inputs.push(type(name));
    ui.picks.push(pickBy((i) => i.keyKind === 'long-term'));
    ui.inputs.push(type(c.id));
    ui.inputs.push((o) => {
      assert.equal(o.password, true, 'the secret input box must hide what is typed');
      return c.secret;
    });
    ui.inputs.push(type(regions));
    ui.inputs.push(type(endpoint));
  }

  it('asks provider, name, key id, hidden secret, regions, endpoint; tests live; saves', async () => {
    const url = await regionServer('ok');
    const c = creds();
    const events: string[] = [];
    ctx.service.onDidChange((e) => events.push(e.type));
    scriptAdd(c, 'dev', url, 'ap-guangzhou, ap-shanghai');
    await fakeVscode.commands.executeCommand('kmsEnvelope.addProfile');
    assert.deepEqual(
      ui.messages.map((m) => m.text),
      ['Tencent Cloud KMS profile "dev" tested OK (3 regions) and saved.'],
    );
    const p = await ctx.service.getProfile('tencent', 'dev');
    assert.deepEqual([p?.source, p?.endpoint, p?.regions], ['keychain', url, ['ap-guangzhou', 'ap-shanghai']]);
    assert.deepEqual(await ctx.service.credentialsFor('tencent', 'dev')(), { accessKeyId: c.id, accessKeySecret: c.secret });
    assert.deepEqual(events, ['add']);
    // The secret sits in SecretStorage under the keychain account naming, listed in the index.
    assert.ok(ctx.context.secretsMap.get(`secret:${KEYCHAIN_SERVICE}/tencent:dev`)?.includes(c.secret));
    assert.deepEqual(JSON.parse(ctx.context.secretsMap.get(`index:${KEYCHAIN_SERVICE}`)!), ['tencent:dev']);
  });

  it('a failed test offers Edit / Save Anyway / Cancel: Edit re-asks with the values kept, then saves', async () => {
    const bad = await regionServer('authfail');
    const good = await regionServer('ok');
    const c = creds();
    scriptAdd(c, 'prod', bad);
    ui.buttons.push('Edit');
    // Second round: provider kept, values prefilled; only the endpoint changes.
    ui.inputs.push((o) => o.value); // name
    ui.picks.push(pickBy((i) => i.picked));
    ui.inputs.push((o) => o.value); // key id
    ui.inputs.push((o) => o.value); // secret
    ui.inputs.push((o) => o.value); // regions
    ui.inputs.push(type(good));
    await fakeVscode.commands.executeCommand('kmsEnvelope.addProfile');
    const warn = ui.messages.find((m) => m.level === 'warn');
    assert.ok(warn?.modal);
    assert.match(warn!.text, /Testing tencent profile "prod" failed: .*SecretId/);
    assert.match(ui.messages.at(-1)!.text, /"prod" tested OK \(3 regions\) and saved/);
    assert.equal((await ctx.service.getProfile('tencent', 'prod'))?.endpoint, good);
  });

  it('Save Anyway stores an untested profile; Cancel stores nothing', async () => {
    const bad = await regionServer('authfail');
    const c1 = creds();
    scriptAdd(c1, 'later', bad);
    ui.buttons.push('Save Anyway');
    await fakeVscode.commands.executeCommand('kmsEnvelope.addProfile');
    assert.match(ui.messages.at(-1)!.text, /"later" saved without a successful test/);
    assert.ok(await ctx.service.getProfile('tencent', 'later'));

    const c2 = creds();
    scriptAdd(c2, 'never', bad);
    ui.buttons.push(undefined);
    await fakeVscode.commands.executeCommand('kmsEnvelope.addProfile');
    assert.equal(await ctx.service.getProfile('tencent', 'never'), undefined);
    assert.equal(ctx.context.secretsMap.get(`secret:${KEYCHAIN_SERVICE}/tencent:never`), undefined);
  });
});

describe('extension: Test / Rotate / Remove from a tree node', () => {
  it('Test Profile says OK; Rotate Secret swaps the key and re-tests; Remove asks (modal) and deletes the secret', async () => {
    const url = await regionServer('ok');
    const c1 = creds();
    const c2 = creds();
    await ctx.service.addProfile({ provider: 'tencent', name: 'dev', endpoint: url }, { accessKeyId: c1.id, accessKeySecret: c1.secret });
    const node = { provider: 'tencent', profile: 'dev' };

    await fakeVscode.commands.executeCommand('kmsEnvelope.testProfile', node);
    assert.equal(ui.messages.at(-1)!.text, `Tencent Cloud KMS profile "dev": OK, 3 regions at ${url}.`);

    ui.picks.push(pickBy((i) => i.keyKind === 'long-term'));
    ui.inputs.push(type(c2.id), (o) => {
      assert.equal(o.password, true);
      return c2.secret;
    });
    await fakeVscode.commands.executeCommand('kmsEnvelope.rotateSecret', node);
    assert.match(ui.messages.at(-1)!.text, /Rotated the secret of tencent profile "dev" \(key AKID….{4}\); tested OK/);
    assert.equal((await ctx.service.credentialsFor('tencent', 'dev')()).accessKeySecret, c2.secret);

    ui.buttons.push(undefined); // dismiss the confirmation: nothing removed
    await fakeVscode.commands.executeCommand('kmsEnvelope.removeProfile', node);
    assert.ok(await ctx.service.getProfile('tencent', 'dev'));
    const confirm = ui.messages.at(-1)!;
    assert.ok(confirm.modal);
    assert.match(confirm.text, /Remove the Tencent Cloud KMS profile "dev"\?[\s\S]*deleted from VS Code's SecretStorage/);

    ui.buttons.push('Remove');
    await fakeVscode.commands.executeCommand('kmsEnvelope.removeProfile', node);
    assert.equal(await ctx.service.getProfile('tencent', 'dev'), undefined);
    assert.equal(ctx.context.secretsMap.get(`secret:${KEYCHAIN_SERVICE}/tencent:dev`), undefined);
    assert.deepEqual(JSON.parse(ctx.context.secretsMap.get(`index:${KEYCHAIN_SERVICE}`)!), []);
  });

  it('a rejected key: Test Profile shows the error once and offers Rotate Secret; discovered profiles are read-only', async () => {
    const url = await regionServer('authfail');
    const c = creds();
    await ctx.service.addProfile({ provider: 'tencent', name: 'dev', endpoint: url }, { accessKeyId: c.id, accessKeySecret: c.secret });
    ui.buttons.push(undefined);
    await fakeVscode.commands.executeCommand('kmsEnvelope.testProfile', { provider: 'tencent', profile: { name: 'dev' } });
    const errs = ui.messages.filter((m) => m.level === 'error');
    assert.equal(errs.length, 1);
    assert.match(errs[0].text, /Tencent Cloud KMS profile "dev": .*SecretId/);

    const envSvc = new CredentialService({
      secretStore: ctx.service.secretStore,
      configDir: path.join(ctx.root, 'config'),
      env: { TENCENTCLOUD_SECRET_ID: c.id, TENCENTCLOUD_SECRET_KEY: c.secret },
      homeDir: path.join(ctx.root, 'home'),
    });
    commands.clear();
    ext.registerProfileCommands(ctx.context as never, envSvc, ctx.log as never, cloudFactory);
    await fakeVscode.commands.executeCommand('kmsEnvelope.removeProfile', { provider: 'tencent', profile: 'env' });
    assert.match(ui.messages.at(-1)!.text, /discovered from env and is read-only/);
    assert.ok(ctx.log.lines.some((l) => l.startsWith('error kmsEnvelope.removeProfile')));
  });
});

describe('extension: where secrets are kept', () => {
  const failing: SecretStore = {
    description: 'the OS keychain',
    get: async () => {
      throw credentialsError('The OS keychain did not answer within 3 s (reading kms-envelope/__probe__).');
    },
    set: async () => undefined,
    delete: async () => false,
    list: async () => [],
  };

  it('no Secret Service: falls back to SecretStorage, logs it every time, tells the user once naming the place', async () => {
    const a = await storage.chooseSecretStore(ctx.context as never, ctx.log as never, { keychain: failing, env: {} });
    assert.equal(a.kind, 'secret-storage');
    assert.equal(a.store.description, "VS Code's SecretStorage");
    assert.match(a.reason!, /did not answer/);
    const b = await storage.chooseSecretStore(ctx.context as never, ctx.log as never, { keychain: failing, env: {} });
    assert.equal(b.kind, 'secret-storage');
    const infos = ui.messages.filter((m) => m.level === 'info');
    assert.equal(infos.length, 1, 'said once');
    assert.match(infos[0].text, /no OS keychain here, so cloud secrets are kept in VS Code's SecretStorage/);
    assert.equal(ctx.log.lines.filter((l) => l.startsWith('warn The OS keychain is not available')).length, 2);
    const forced = await storage.chooseSecretStore(ctx.context as never, ctx.log as never, {
      env: { KMS_ENVELOPE_FORCE_SECRET_STORAGE: '1' },
    });
    assert.equal(forced.kind, 'secret-storage');
  });

  it(
    'with a Secret Service the real keytar probe picks the OS keychain',
    { skip: process.env.KMS_ENVELOPE_IN_KEYRING === '1' ? false : 'run under scripts/with-keyring.sh' },
    async () => {
      const chosen = await storage.chooseSecretStore(ctx.context as never, ctx.log as never, { env: {} });
      assert.equal(chosen.kind, 'keychain');
      assert.ok(chosen.store instanceof KeytarSecretStore);
      assert.equal(ui.messages.length, 0);
    },
  );
});
