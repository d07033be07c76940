/**
 * The extension's light start (issue 17, item 6): activation loads dist/extension/main.mjs and the
 * chunks it imports statically — our own code only — while the envelope engine, the Encryption SDK,
 * the cloud SDKs and the team service sit in chunks behind dynamic import(), loaded on first use. Read
 * from the metafile the build writes (dist/extension.meta.json), so it holds for the development and
 * the production (minified) build alike. The time it saves is measured by `npm run bench extension`.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { before, describe, it } from 'node:test';

const root = resolve(__dirname, '..', '..');
const metaFile = join(root, 'dist', 'extension.meta.json');

interface Meta {
  outputs: Record<
    string,
    { imports: { path: string; kind: string; external?: boolean }[]; inputs: Record<string, unknown>; entryPoint?: string }
  >;
}

/** The package an input belongs to (`node_modules/@scope/name/...` → `@scope/name`), or the source path. */
const owner = (input: string) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input)?.[1] ?? input;

describe('extension bundle: what activation loads', () => {
  let meta: Meta;
  let atStart: Set<string>;
  let later: Set<string>;
  const chunkHolding = (source: string) => Object.keys(meta.outputs).filter((o) => o.endsWith('.mjs') && source in meta.outputs[o].inputs);

  before(() => {
    if (!existsSync(metaFile)) {
      const b = spawnSync(process.execPath, [join(root, 'esbuild.mjs')], { cwd: root, encoding: 'utf8' });
      assert.equal(b.status, 0, b.stderr);
    }
    meta = JSON.parse(readFileSync(metaFile, 'utf8')) as Meta;
    const main = Object.keys(meta.outputs).find((o) => o.endsWith('/main.mjs'));
    assert.ok(main, 'the build wrote no dist/extension/main.mjs');
    assert.equal(meta.outputs[main].entryPoint, 'src/extension/extension.ts');
    // main.mjs and every chunk reachable through static imports: what `import('./extension/main.mjs')` loads.
    const loaded = new Set<string>();
    const walk = (o: string) => {
      if (loaded.has(o)) return;
      loaded.add(o);
      for (const i of meta.outputs[o].imports) if (i.kind === 'import-statement' && !i.external) walk(i.path);
    };
    walk(main);
    atStart = new Set([...loaded].flatMap((o) => Object.keys(meta.outputs[o].inputs).map(owner)));
    later = new Set(
      Object.keys(meta.outputs)
        .filter((o) => o.endsWith('.mjs') && !loaded.has(o))
        .flatMap((o) => Object.keys(meta.outputs[o].inputs).map(owner)),
    );
  });

  it('activation loads none of the npm packages: only our own modules', () => {
    const packages = [...atStart].filter((s) => !s.startsWith('src/') && s !== 'vscode-require:vscode');
    assert.deepEqual(packages, []);
  });

  it('the engine, the Encryption SDK, the cloud SDKs and the team service load on first use (a chunk of their own, not missing)', () => {
    for (const lazy of [
      'src/core/envelope/engine.ts',
      'src/core/services/team-service.ts',
      'src/core/kms/tencent/index.ts',
      'src/core/kms/alibaba/index.ts',
      'src/core/kms/aws/index.ts',
      'src/core/kms/local/index.ts',
      '@aws-crypto/material-management',
      '@aws-sdk/client-kms',
      'tencentcloud-sdk-nodejs-common',
      '@alicloud/openapi-client',
      'node-forge',
    ]) {
      assert.ok(!atStart.has(lazy), `${lazy} is loaded at activation`);
      assert.ok(later.has(lazy), `${lazy} is in no chunk of the bundle`);
    }
  });

  it('the Keys view’s first level (the provider registry) needs no SDK: its descriptors load with activation', () => {
    assert.ok(atStart.has('src/core/kms/registry.ts'));
    assert.ok(chunkHolding('src/core/kms/registry.ts').length === 1);
  });
});
