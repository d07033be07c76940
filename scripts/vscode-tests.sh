#!/usr/bin/env bash
# Tests in a real VS Code (code-server 4.100.3 / VS Code 1.100.3) and a real browser (Debian Chromium):
#   1. integration: mocha suites in test/integration inside the extension host, extension from source
#   2. package: npm run package (this platform) and --target universal (no native module), then the
#      @packaged integration suites against each installed .vsix, and the @untrusted suite against the
#      platform one in an untrusted folder (Restricted Mode)
#   3. e2e: Playwright scenarios in test/e2e driving the workbench UI, from source and from the .vsix
#      (screenshots in test-results/e2e/)
# Called by scripts/test.sh (npm test); runs alone too. All under a private D-Bus + gnome-keyring.
# Exit status non-zero if any step fails (every step runs anyway, so one run shows everything).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${KMS_ENVELOPE_IN_KEYRING:-}" != 1 ]; then
  # A keyring file of its own (gnome-keyring reloads $XDG_DATA_HOME/keyrings/* when another session
  # writes it, so concurrent runs sharing ~/.local/share/keyrings lose each other's entries).
  export XDG_DATA_HOME; XDG_DATA_HOME=$(mktemp -d -t kms-envelope-keyring.XXXXXX)
  export KMS_ENVELOPE_KEYRING_TMP="$XDG_DATA_HOME"
  exec bash scripts/with-keyring.sh bash "$0" "$@"
fi
if [ -n "${KMS_ENVELOPE_KEYRING_TMP:-}" ]; then trap 'rm -rf "$KMS_ENVELOPE_KEYRING_TMP"' EXIT; fi

t_all=$(date +%s)
step() { printf '\n=== %s\n' "$*"; }
declare -a summary=()
failed=0
run_step() { # name, command...
  local name=$1; shift
  local t0; t0=$(date +%s)
  step "$name"
  if "$@"; then summary+=("ok    $name ($(( $(date +%s) - t0 )) s)")
  else summary+=("FAIL  $name ($(( $(date +%s) - t0 )) s)"); failed=1; fi
}

step "code-server (one-time install, cached in .cache/code-server)"
bash scripts/vscode/install-code-server.sh >/dev/null
step "build extension + integration suites"
node esbuild.mjs
node scripts/vscode/build-tests.mjs

run_step "integration (extension from source)" \
  node --import tsx scripts/vscode/run.ts --no-build --emulator auto --timeout 300

vsix=""
universal=""
package_step() { vsix=$(bash scripts/package.sh | tail -n1) && [ -f "$vsix" ]; }
universal_step() { universal=$(bash scripts/package.sh --target universal | tail -n1) && [ -f "$universal" ]; }
run_step "package (.vsix for this platform)" package_step
run_step "package (universal .vsix)" universal_step
# The package steps leave a production build in dist/; put the development build (source maps) back.
node esbuild.mjs
if [ -n "$vsix" ] && [ -f "$vsix" ]; then
  run_step "integration against the installed $vsix" \
    node --import tsx scripts/vscode/run.ts --no-build --vsix "$vsix" --emulator auto --timeout 300
  run_step "Restricted Mode: $vsix in an untrusted folder" \
    node --import tsx scripts/vscode/run.ts --no-build --vsix "$vsix" --untrusted --timeout 300
fi
if [ -n "$universal" ] && [ -f "$universal" ]; then
  run_step "integration against the installed $universal" \
    node --import tsx scripts/vscode/run.ts --no-build --vsix "$universal" --label vsix-universal --emulator auto --timeout 300
fi

e2e_args=()
if [ -n "$vsix" ] && [ -f "$vsix" ]; then e2e_args=(--vsix "$vsix"); fi
run_step "e2e (Playwright + Chromium; screenshots in test-results/e2e/)" \
  node --import tsx scripts/vscode/e2e.ts "${e2e_args[@]}"

printf '\n=== real VS Code summary (%s s)\n' "$(( $(date +%s) - t_all ))"
printf '  %s\n' "${summary[@]}"
exit $failed
