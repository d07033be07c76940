// The layer rules are mechanical (eslint.config.mjs): probe files that break each rule are written
// into temporary folders inside the tree, where the rule applies, and eslint must reject each one
// with the rule that guards it; a clean probe beside them must pass. The folders are removed after.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { ESLint } from 'eslint';

const root = path.resolve(__dirname, '../..');
const tag = `lint-probe-${process.pid}-${Date.now().toString(36)}`;
/** Temporary folders, one per layer, named so nobody mistakes them for code. */
const dirs = {
  core: path.join(root, 'src/core', tag),
  kms: path.join(root, 'src/core/kms', tag),
  envelope: path.join(root, 'src/core/envelope', tag),
  extension: path.join(root, 'src/extension', tag),
};

interface Probe {
  dir: keyof typeof dirs;
  name: string;
  code: string;
  /** The rule that must reject it; undefined: a clean probe that must pass. */
  rule?: string;
}

const probes: Probe[] = [
  {
    dir: 'core',
    name: 'core-imports-cli',
    code: "import { CLI } from '../../cli/common';\nexport const x = CLI;\n",
    rule: 'no-restricted-imports',
  },
  {
    dir: 'core',
    name: 'core-imports-extension',
    code: "import type { KmsEnvelopeApi } from '../../extension/extension';\nexport type X = KmsEnvelopeApi;\n",
    rule: 'no-restricted-imports',
  },
  {
    dir: 'core',
    name: 'core-imports-emulator',
    code: "import { startEmulator } from '../../emulator/index';\nexport const x = startEmulator;\n",
    rule: 'no-restricted-imports',
  },
  {
    dir: 'kms',
    name: 'kms-imports-credentials',
    code: "import { CredentialService } from '../../credentials/service';\nexport const x = CredentialService;\n",
    rule: 'no-restricted-imports',
  },
  {
    dir: 'kms',
    name: 'kms-imports-services',
    code: "import { KeyService } from '../../services/key-service';\nexport const x = KeyService;\n",
    rule: 'no-restricted-imports',
  },
  {
    dir: 'envelope',
    name: 'envelope-imports-a-provider',
    code: "import { tencentProvider } from '../../kms/tencent/descriptor';\nexport const x = tencentProvider;\n",
    rule: 'no-restricted-imports',
  },
  {
    dir: 'envelope',
    name: 'envelope-imports-a-provider-folder',
    code: "import { LocalKmsProvider } from '../../kms/local';\nexport const x = LocalKmsProvider;\n",
    rule: 'no-restricted-imports',
  },
  { dir: 'core', name: 'core-reads-process-env', code: 'export const home = process.env.HOME;\n', rule: 'no-restricted-properties' },
  {
    dir: 'extension',
    name: 'extension-reads-process-env',
    code: "export const dir = process.env['KMS_ENVELOPE_CONFIG_DIR'];\n",
    rule: 'no-restricted-properties',
  },
  {
    dir: 'kms',
    name: 'kms-destructures-process-env',
    code: 'const { env } = process;\nexport const e = env;\n',
    rule: 'no-restricted-properties',
  },
  // Clean probes: what each layer may do.
  {
    dir: 'kms',
    name: 'clean-kms',
    code: "import { usageError } from '../../errors';\nimport type { KmsProvider } from '../types';\nexport const f = (p: KmsProvider) => usageError(p.name);\n",
  },
  {
    dir: 'envelope',
    name: 'clean-envelope',
    code: "import { providersForKeyring } from '../../kms/registry';\nimport type { ProviderDescriptor } from '../../kms/descriptor';\nexport const f = (id: string): ProviderDescriptor[] => providersForKeyring(id);\n",
  },
  { dir: 'core', name: 'clean-core', code: 'export const home = (env: Record<string, string | undefined>) => env.HOME;\n' },
];

describe('layer rules in eslint.config.mjs', () => {
  let results: Map<string, ESLint.LintResult>;
  before(async () => {
    for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
    const files = probes.map((p) => {
      const f = path.join(dirs[p.dir], `${p.name}.ts`);
      writeFileSync(f, p.code);
      return f;
    });
    const lint = await new ESLint({ cwd: root }).lintFiles(files);
    results = new Map(lint.map((r) => [r.filePath, r]));
  });
  after(() => {
    for (const d of Object.values(dirs)) rmSync(d, { recursive: true, force: true });
  });

  for (const p of probes) {
    it(p.rule ? `rejects ${p.name} (${p.rule})` : `passes ${p.name}`, () => {
      const r = results.get(path.join(dirs[p.dir], `${p.name}.ts`));
      assert.ok(r, 'linted');
      const errors = r.messages.filter((m) => m.severity === 2);
      if (!p.rule) {
        assert.deepEqual(
          errors.map((m) => `${m.ruleId}: ${m.message}`),
          [],
        );
        return;
      }
      assert.ok(
        errors.some((m) => m.ruleId === p.rule),
        `expected ${p.rule}, got ${errors.map((m) => `${m.ruleId}: ${m.message}`).join('; ') || 'no error'}`,
      );
      assert.ok(
        errors.every((m) => m.ruleId === p.rule),
        `only ${p.rule}: ${errors.map((m) => m.ruleId).join(', ')}`,
      );
    });
  }
});
