// The code-server half of `npm start` (scripts/start.sh): serves VS Code on 127.0.0.1 with the
// extension loaded from this source tree, prints the URL to open, and stops on Ctrl+C / SIGTERM.
//
// Usage: node --import tsx scripts/vscode/serve.ts --root <dir> --workspace <dir> [--port N]
//   --root       persistent state (user data, extensions, logs) — kept between runs
//   --workspace  the folder the window opens
//   --port       127.0.0.1 port (default 18080)
// The extension host gets this process's environment (scripts/start.sh sets KMS_ENVELOPE_CONFIG_DIR).
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT, startCodeServer } from './code-server';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { root: { type: 'string' }, workspace: { type: 'string' }, port: { type: 'string', default: '18080' } },
  });
  const root = values.root ? resolve(values.root) : '';
  const workspace = values.workspace ? resolve(values.workspace) : '';
  const port = Number(values.port);
  if (!root || !workspace) throw new Error('--root and --workspace are required');
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`--port ${port} is not a TCP port`);
  mkdirSync(root, { recursive: true });
  const server = await startCodeServer({ root, workspace, port, keep: true }).catch((e: Error) => {
    if (/EADDRINUSE|address already in use/i.test(e.message)) {
      throw new Error(`127.0.0.1:${port} is in use: stop what runs there or choose another port (npm start -- --port N)`);
    }
    throw e;
  });
  const url = server.workbenchUrl({ extensionDevelopmentPath: REPO_ROOT });
  console.log(`\nVS Code (code-server ${server.origin}, bound to 127.0.0.1 only) with KMS Envelope loaded from ${REPO_ROOT}.`);
  console.log(
    'Open this URL in a browser on this machine (from another machine: ssh -L ' + `${server.port}:127.0.0.1:${server.port} <this host>):\n`,
  );
  console.log(`  ${url}\n`);
  console.log(`Server log: ${server.logFile}. Ctrl+C stops VS Code and the emulator.`);
  let stopping = false;
  const stop = (code: number) => {
    if (stopping) return;
    stopping = true;
    void server.stop().finally(() => process.exit(code));
  };
  process.on('SIGINT', () => stop(0));
  process.on('SIGTERM', () => stop(0));
  void server.exited.then((code) => {
    if (!stopping) {
      console.error(`code-server exited unexpectedly (code ${code}); see ${server.logFile}`);
      stop(1);
    }
  });
}

main().catch((e: unknown) => {
  console.error(`serve: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
