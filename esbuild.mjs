// Bundles the extension and the CLI. `vscode` and the native `keytar` stay external:
// VS Code provides the first, the second is a native module loaded from node_modules.
import * as esbuild from 'esbuild';
import { chmodSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createRequire, isBuiltin } from 'node:module';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: !production,
  minify: production,
  external: ['vscode', 'keytar'],
  // jsonc-parser's "main" is a UMD build whose internal require() calls esbuild cannot follow; its
  // ESM build ("module") bundles cleanly.
  alias: { 'jsonc-parser': 'jsonc-parser/lib/esm/main.js' },
  logLevel: 'warning',
  legalComments: 'none',
};

// The CLI is ESM split into chunks loaded on demand (src/cli/main.ts imports every command lazily),
// so `unseal` never parses the emulator or the cloud SDKs: its start-up is benchmarked against bare
// `node` (bench/cli.bench.ts). dist/cli.js (the package's bin) is a two-line launcher for the chunks.
// `require` is provided to the ESM output for the CommonJS dependencies and the native keytar.
// '@aws-crypto/client-node' resolves to the parts the engine uses (see src/cli/esdk-slim.ts).
// In split ESM output, `await import('some-cjs-package')` would yield only `default` (Node's ESM/CJS
// interop), while the code (and the CommonJS bundle) expect the package's named exports. This plugin
// puts a small ESM facade in front of every dynamically imported npm package that re-exports the
// names module.exports has at build time, and `default` as a CommonJS bundle would.
const require = createRequire(import.meta.url);
const dynamicCjsInterop = {
  name: 'dynamic-cjs-interop',
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, (args) => {
      // Only our own dynamic imports: a package's dynamic import inside node_modules (the AWS SDK's
      // `import('@smithy/core/event-streams')`) already expects what esbuild gives it.
      if (
        args.kind !== 'dynamic-import' ||
        args.namespace === 'cjs-facade' ||
        args.path.startsWith('node:') ||
        isBuiltin(args.path) ||
        /[\\/]node_modules[\\/]/.test(args.importer)
      )
        return undefined;
      return { path: args.path, namespace: 'cjs-facade', pluginData: { resolveDir: args.resolveDir } };
    });
    build.onLoad({ filter: /.*/, namespace: 'cjs-facade' }, (args) => {
      const names = Object.keys(require(require.resolve(args.path, { paths: [args.pluginData.resolveDir] }))).filter(
        (n) => /^[A-Za-z_$][\w$]*$/.test(n) && n !== 'default',
      );
      const spec = JSON.stringify(args.path);
      return {
        contents: `import * as m from ${spec};\nexport const { ${names.join(', ')} } = m;\nexport default m.default;\n`,
        resolveDir: args.pluginData.resolveDir,
        loader: 'js',
      };
    });
  },
};

// `--cli-out <dir>` (scripts/pack-cli.mjs): only the CLI, production, into <dir>/cli.js + <dir>/cli/
// (the npm package), leaving dist/ alone.
const cliOutArg = process.argv.indexOf('--cli-out');
const cliOut = cliOutArg > 0 ? process.argv[cliOutArg + 1] : undefined;
if (cliOutArg > 0 && !cliOut) throw new Error('--cli-out needs a directory');
const out = cliOut ?? 'dist';

const cli = {
  ...common,
  plugins: [dynamicCjsInterop],
  format: 'esm',
  splitting: true,
  entryPoints: { main: 'src/cli/main.ts' },
  outdir: `${out}/cli`,
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  banner: { js: "import { createRequire as __kmsCreateRequire } from 'node:module'; const require = __kmsCreateRequire(import.meta.url);" },
  alias: { ...common.alias, '@aws-crypto/client-node': './src/cli/esdk-slim.ts' },
};
const cliLauncher =
  "#!/usr/bin/env node\n// Launcher of the kms-envelope CLI (built by esbuild.mjs; the code is in dist/cli/).\nimport('./cli/main.mjs');\n";

// The universal .vsix (scripts/package.sh --target universal sets KMS_ENVELOPE_TARGET) ships no native
// module: KMS_ENVELOPE_KEYCHAIN=false makes src/extension/secret-storage.ts choose VS Code's SecretStorage,
// and `keytar` resolves to a module that only says it is absent, so the bundle requires no keytar at all.
const universal = process.env.KMS_ENVELOPE_TARGET === 'universal';
const noKeytar = {
  name: 'no-keytar',
  setup(build) {
    build.onResolve({ filter: /^keytar$/ }, () => ({ path: 'keytar', namespace: 'no-keytar' }));
    build.onLoad({ filter: /.*/, namespace: 'no-keytar' }, () => ({
      contents: "throw new Error('keytar is not part of the universal KMS Envelope package (secrets are kept in VS Code SecretStorage)');",
      loader: 'js',
    }));
  },
};
// The extension is split the same way: dist/extension.js (the manifest's "main", CommonJS as VS Code
// loads it) is a launcher that imports dist/extension/main.mjs on activation; what activate() needs is
// in main.mjs and its static chunks, while the envelope engine, the cloud SDKs, the Encryption SDK and
// keytar sit behind the dynamic import()s of src/extension and src/core, in chunks loaded on first use.
// `vscode` is what the extension host hands to require() (it patches the CommonJS loader, not the ESM
// one): every `import … from 'vscode'` becomes that require, through the banner's createRequire.
const vscodeViaRequire = {
  name: 'vscode-via-require',
  setup(build) {
    build.onResolve({ filter: /^vscode$/ }, (args) =>
      args.namespace === 'vscode-require' ? { path: 'vscode', external: true } : { path: 'vscode', namespace: 'vscode-require' },
    );
    build.onLoad({ filter: /.*/, namespace: 'vscode-require' }, () => ({ contents: "module.exports = require('vscode');", loader: 'js' }));
  },
};
const extension = {
  ...common,
  plugins: [vscodeViaRequire, dynamicCjsInterop, ...(universal ? [noKeytar] : [])],
  format: 'esm',
  splitting: true,
  entryPoints: { main: 'src/extension/extension.ts' },
  outdir: 'dist/extension',
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  banner: cli.banner,
  alias: { ...common.alias, '@aws-crypto/client-node': './src/cli/esdk-slim.ts' },
  define: { KMS_ENVELOPE_KEYCHAIN: String(!universal) },
  ...(universal ? { external: ['vscode'] } : {}),
};
const extensionLauncher =
  '"use strict";\n' +
  '// Launcher of the KMS Envelope extension (built by esbuild.mjs; the code is in dist/extension/).\n' +
  'let main;\n' +
  "exports.activate = async (context) => (main = await import('./extension/main.mjs')).activate(context);\n" +
  'exports.deactivate = () => main?.deactivate();\n';

const builds = cliOut ? [cli] : [extension, cli];

mkdirSync(out, { recursive: true });
rmSync(`${out}/cli.js.map`, { force: true });
// The launcher is replaced atomically: a CLI started while we build never sees half a file.
writeFileSync(`${out}/.cli.js.tmp`, cliLauncher, { mode: 0o755 });
chmodSync(`${out}/.cli.js.tmp`, 0o755);
renameSync(`${out}/.cli.js.tmp`, `${out}/cli.js`);

if (watch) {
  if (!cliOut) writeFileSync(`${out}/extension.js`, extensionLauncher);
  for (const b of builds) (await esbuild.context(b)).watch();
} else {
  const [cliResult, extResult] = await Promise.all([
    esbuild.build({ ...cli, metafile: true }),
    ...(cliOut ? [] : [esbuild.build({ ...extension, metafile: true })]),
  ]);
  // Remove chunks of earlier builds only now (hashed names pile up otherwise); removing dist/cli
  // before building would break CLI runs that start during the build (tests, other terminals).
  const prune = (dir, result) => {
    const keep = new Set(Object.keys(result.metafile.outputs).map((f) => resolve(f)));
    for (const f of readdirSync(dir, { recursive: true, withFileTypes: true })) {
      const p = resolve(f.parentPath ?? f.path, f.name);
      if (f.isFile() && !keep.has(p)) rmSync(p, { force: true });
    }
  };
  prune(`${out}/cli`, cliResult);
  if (extResult) {
    prune(`${out}/extension`, extResult);
    // The launcher last (atomically), once the chunks it imports exist; the single-file bundle of
    // earlier builds left a source map beside it.
    writeFileSync(`${out}/.extension.js.tmp`, extensionLauncher);
    renameSync(`${out}/.extension.js.tmp`, `${out}/extension.js`);
    rmSync(`${out}/extension.js.map`, { force: true });
    // Which sources and packages each chunk holds, and which chunks load at activation (static imports
    // of main.mjs): test/unit/bundle-split.test.ts reads it. Not shipped (.vscodeignore).
    writeFileSync(`${out}/extension.meta.json`, JSON.stringify(extResult.metafile));
  }
  // The npm packages the CLI loads at run time (left external): the npm package's dependencies.
  if (cliOut) {
    const ext = Object.values(cliResult.metafile.outputs).flatMap((o) => o.imports.filter((i) => i.external && !isBuiltin(i.path)));
    writeFileSync(`${out}/externals.json`, JSON.stringify([...new Set(ext.map((i) => i.path))].sort()) + '\n');
  }
}
