#!/usr/bin/env bash
# The README's test command (`npm test`): installs what it needs, then runs every suite.
# Lint, typecheck, build, unit, conformance run on plain Node; integration and e2e run
# inside a real VS Code (code-server) and a real browser. All under a private keyring.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${KMS_ENVELOPE_TEST_TMP:-}" ]; then
  KMS_ENVELOPE_TEST_TMP=$(mktemp -d -t kms-envelope-test.XXXXXX)
  trap 'rm -rf "$KMS_ENVELOPE_TEST_TMP"' EXIT
fi
export KMS_ENVELOPE_TEST_TMP
export KMS_ENVELOPE_CONFIG_DIR="$KMS_ENVELOPE_TEST_TMP/config"
step() { printf '\n=== %s\n' "$*"; }
step lint;        npx eslint src test bench scripts
step format;      npx prettier --check --log-level warn src test bench scripts esbuild.mjs eslint.config.mjs
step typecheck;   npx tsc -p . --noEmit
step build;       node esbuild.mjs
step "unit + conformance"
# A keyring file of its own, so a concurrent `npm start` or another test run cannot clobber entries.
mkdir -p "$KMS_ENVELOPE_TEST_TMP/xdg-data"
XDG_DATA_HOME="$KMS_ENVELOPE_TEST_TMP/xdg-data" \
  bash scripts/with-keyring.sh node scripts/run-node-tests.mjs test/unit test/conformance
if [ -d test/integration ] && ls test/integration/*.ts >/dev/null 2>&1 && [ -f scripts/vscode-tests.sh ]; then
  step "integration + e2e (real VS Code)"
  bash scripts/vscode-tests.sh
fi
