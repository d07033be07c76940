// Hints in the words of the front door that shows them (issue 10, item 6): core errors carry their
// next steps as intents; the CLI words them as `kms-envelope …` lines, VS Code as palette titles
// (extension/step-words.ts here; its buttons in test/integration/extension-6-remedies.test.ts), plain
// text never names a CLI. Real errors from the real providers: a local key disabled / pending
// deletion, a Tencent key disabled on the emulator's wire format, a local import, an instance profile
// without its CA, a blob that is not one. And no text in src/core is written in the CLI's words.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import ts from 'typescript';
import { KmsEnvelopeError, renderHint, type NextStep } from '../../src/core/errors';
import { cliStep } from '../../src/cli/hints';
import { vscodeStep } from '../../src/extension/step-words';
import { unsealBuffer } from '../../src/core/envelope';
import { createInstanceProvider } from '../../src/core/kms/alibaba-instance';
import { nullLogger } from '../../src/core/log';
import { printError } from '../../src/cli/common';
import { LocalKmsProvider } from '../../src/core/kms/local';
import { TencentKmsProvider } from '../../src/core/kms/tencent';
import { MemorySecretStore } from '../../src/core/secrets';

const CLI_LINE = /kms-envelope (keys|profiles|inspect|seal)/;

/** The CLI's syntax: a `kms-envelope <command>` line, a `--flag`, a bare `keys …` / `profiles …` command. */
const CLI_SYNTAX = [
  /\bkms-envelope (keys|profiles|seal|unseal|inspect|rewrap|exec|merge|git|check|scan|values|team|bench|emulator)\b/,
  /(^|[\s(`'"])--[a-z][a-z-]*/,
  /`(keys|profiles) [a-z]/,
];
/** Other tools' commands (`aws sso login --profile dev`, `git init`) read the same in a terminal and in VS Code's. */
const OTHER_TOOLS = /`(aws|git) [^`]*`/g;
/**
 * Texts of src/core that are no front door's words to a person: an argument of a process core runs
 * (`--show-toplevel` for git, `--expose-gc` for node), the git hook's lines, and core/bench.ts, the engine
 * of `kms-envelope bench` alone (it checks that command's options by their names).
 */
const NOT_WORDS = [
  (_file: string, text: string) => /^--[a-z][\w=-]*$/.test(text),
  (file: string, text: string) => file === 'git/repo.ts' && /^# >>> kms-envelope|^… check --staged \|\| exit/.test(text),
  (file: string) => file === 'bench.ts',
];

/** Every string and template literal under src/core, with its file and line (comments are not literals). */
function coreTexts(): Array<{ where: string; file: string; text: string }> {
  const root = path.join(__dirname, '../../src/core');
  const out: Array<{ where: string; file: string; text: string }> = [];
  for (const rel of readdirSync(root, { recursive: true }) as string[]) {
    if (!rel.endsWith('.ts')) continue;
    const file = rel.split(path.sep).join('/');
    const src = ts.createSourceFile(file, readFileSync(path.join(root, rel), 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (n: ts.Node): void => {
      let text: string | undefined;
      if (ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n)) text = n.text;
      else if (ts.isTemplateExpression(n)) text = [n.head.text, ...n.templateSpans.map((t) => `…${t.literal.text}`)].join('');
      if (text !== undefined) {
        const line = src.getLineAndCharacterOfPosition(n.getStart()).line + 1;
        out.push({ where: `src/core/${file}:${line}`, file, text });
      }
      if (!ts.isTemplateExpression(n)) ts.forEachChild(n, visit);
      else n.templateSpans.forEach((t) => visit(t.expression));
    };
    visit(src);
  }
  return out;
}

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

  it('core speaks no front door: no string in src/core holds a kms-envelope command line or a --flag', () => {
    const texts = coreTexts();
    assert.ok(texts.length > 1000, `read ${texts.length} literals`);
    const found = texts
      .filter((t) => !NOT_WORDS.some((skip) => skip(t.file, t.text)))
      .filter((t) => CLI_SYNTAX.some((re) => re.test(t.text.replace(OTHER_TOOLS, ''))))
      .map((t) => `${t.where}: ${t.text.slice(0, 140)}`);
    assert.deepEqual(found, [], 'say these as a NextStep (core/errors.ts) or in words of no front door');
  });

  it('the new steps: a command line in the terminal, a palette title (or the terminal, named as such) in VS Code', () => {
    const cases: Array<[NextStep, string, string]> = [
      [
        { action: 'moveAlias', provider: 'aws', region: 'us-east-1', profile: 'ops', alias: 'alias/app' },
        '`kms-envelope keys alias --provider aws --region us-east-1 --profile ops --key <new key id> --alias alias/app`',
        '"KMS Envelope: Set Alias…" (alias/app) on the new key in the KMS Envelope Keys view',
      ],
      [
        { action: 'addProfile', provider: 'alibaba-instance', name: 'inst', replace: true },
        '`kms-envelope profiles add --provider alibaba-instance --name inst --instance-endpoint … --ca-file … --client-key-file … --replace`',
        '"KMS Envelope: Remove Profile…", then "KMS Envelope: Add Profile…"',
      ],
      [
        { action: 'rotateSecret', provider: 'alibaba-instance', name: 'inst' },
        '`kms-envelope profiles rotate --provider alibaba-instance --name inst --instance-endpoint … --ca-file … --client-key-file …`',
        '"KMS Envelope: Rotate Secret…"',
      ],
      [{ action: 'seal', file: 'app.yaml', values: true }, '`kms-envelope seal --values app.yaml`', '"KMS Envelope: Seal Values in File"'],
      [{ action: 'seal', file: 'a.bin' }, '`kms-envelope seal a.bin --key <keyref>`', '"KMS Envelope: Seal File"'],
      [
        { action: 'exportKey', provider: 'local' },
        '`kms-envelope keys export --provider local --key <key> --out <file>`',
        '`kms-envelope keys export --provider local` in a terminal (the extension has no command for it)',
      ],
      [{ action: 'inspect' }, '`kms-envelope inspect <file>`', '"KMS Envelope: Inspect Sealed Header"'],
      [{ action: 'listKeys', provider: 'local' }, '`kms-envelope keys list --provider local`', 'the KMS Envelope Keys view'],
    ];
    for (const [step, cli, code] of cases) {
      assert.equal(cliStep(step), cli);
      assert.equal(vscodeStep(step), code);
      assert.doesNotMatch(renderHint(['Do this: ', step])!, CLI_LINE, `plain words of ${step.action}`);
    }
  });

  it('real errors: the terminal reads the command, VS Code the palette title, plain words neither', async () => {
    const p = new LocalKmsProvider({ configDir: dir, secretStore: new MemorySecretStore() });
    const badId = (await p.importKey(Buffer.alloc(32), { keyId: 'nope' }).catch((e) => e)) as KmsEnvelopeError;
    const noBlob = (await unsealBuffer(Buffer.alloc(0), { resolve: () => [] as never }).catch((e) => e)) as KmsEnvelopeError;
    const noCa = (await createInstanceProvider({
      profile: 'inst',
      settings: { instanceEndpoint: 'kst-1.cryptoservice.kms.aliyuncs.com' },
      credentials: async () => ({}),
      logger: nullLogger,
    } as never).catch((e) => e)) as KmsEnvelopeError;
    const cases: Array<[KmsEnvelopeError, string, string]> = [
      [badId, '`kms-envelope keys list --provider local`', 'the KMS Envelope Keys view'],
      [noBlob, '`kms-envelope inspect <file>`', '"KMS Envelope: Inspect Sealed Header"'],
      [
        noCa,
        '`kms-envelope profiles add --provider alibaba-instance --name inst --instance-endpoint … --ca-file … --client-key-file … --replace`',
        '"KMS Envelope: Remove Profile…", then "KMS Envelope: Add Profile…"',
      ],
    ];
    for (const [err, cli, code] of cases) {
      assert.ok(err instanceof KmsEnvelopeError, String(err));
      assert.ok(err.hintIn(cliStep)!.includes(cli), `${err.message}\n  CLI: ${err.hintIn(cliStep)}`);
      assert.ok(err.hintIn(vscodeStep)!.includes(code), `${err.message}\n  VS Code: ${err.hintIn(vscodeStep)}`);
      assert.doesNotMatch(err.hintIn(vscodeStep)!, /--[a-z]|kms-envelope /, `VS Code words of: ${err.message}`);
      assert.doesNotMatch(err.hint!, /--[a-z]|kms-envelope /, `plain words of: ${err.message}`);
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
