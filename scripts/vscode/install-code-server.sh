#!/usr/bin/env bash
# Installs code-server 4.100.3 (VS Code 1.100.3 server + web workbench, runs on Node 20) without
# internet, as TESTING.md describes: the npm package's postinstall downloads ripgrep from GitHub
# and fails offline, so it is installed with --ignore-scripts and its steps are done here by hand.
#
# Cached under .cache/code-server (git-ignored), outside the project's package.json/lock so that
# `npm ci` stays fast. Idempotent: a stamp file records a complete install and a second run exits
# at once. Prints the code-server directory on stdout as its last line.
#
# Usage: bash scripts/vscode/install-code-server.sh [--force]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
VERSION=4.100.3
PREFIX="$ROOT/.cache/code-server"
CS="$PREFIX/node_modules/code-server"
STAMP="$PREFIX/.installed-$VERSION"

log() { printf 'install-code-server: %s\n' "$*" >&2; }
die() { printf 'install-code-server: ERROR: %s\n' "$*" >&2; exit 1; }

if [ "${1:-}" = --force ]; then rm -f "$STAMP"; fi
if [ -f "$STAMP" ] && [ -f "$CS/out/node/entry.js" ]; then
  echo "$CS"
  exit 0
fi

# --- system prerequisites: fail loudly, naming the Debian package -------------------------------
need_pkg=()
command -v rg >/dev/null 2>&1 || need_pkg+=("ripgrep (provides rg)")
[ -f /usr/include/krb5.h ] || [ -f /usr/include/gssapi/gssapi.h ] || need_pkg+=("libkrb5-dev (kerberos native module)")
[ -x /usr/bin/chromium ] || need_pkg+=("chromium (/usr/bin/chromium, the browser for the tests)")
command -v make >/dev/null 2>&1 && command -v g++ >/dev/null 2>&1 || need_pkg+=("build-essential (make, g++ for native modules)")
command -v python3 >/dev/null 2>&1 || need_pkg+=("python3 (node-gyp)")
if [ ${#need_pkg[@]} -gt 0 ]; then
  die "missing Debian packages: ${need_pkg[*]}
  Run: sudo apt-get install -y ripgrep libkrb5-dev chromium build-essential python3   (or: bash scripts/setup.sh)"
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" = 20 ] || log "warning: code-server $VERSION declares Node 20; this is Node $(node -v)"

start=$(date +%s)
mkdir -p "$PREFIX"
# A private manifest so `npm install --prefix` does not touch the project's package.json; install
# scripts are all skipped (--ignore-scripts) and the needed ones are run explicitly below.
cat > "$PREFIX/package.json" <<'JSON'
{
  "name": "kms-envelope-code-server-cache",
  "private": true,
  "description": "code-server for the KMS Envelope tests (scripts/vscode/install-code-server.sh)",
  "allowScripts": { "code-server": false, "argon2": true }
}
JSON

npm_q=(--no-audit --no-fund --loglevel=error)
if [ ! -f "$CS/package.json" ] || [ "$(node -p "require('$CS/package.json').version")" != "$VERSION" ]; then
  log "npm install code-server@$VERSION (no install scripts)"
  npm install --prefix "$PREFIX" --no-save --ignore-scripts "${npm_q[@]}" "code-server@$VERSION" >&2 \
    || die "npm install code-server@$VERSION failed (is the npm registry reachable?)"
fi

VS="$CS/lib/vscode"
[ -d "$VS" ] || die "$VS missing after npm install: unexpected code-server package layout"

# 1. VS Code server's own dependencies, then the native modules it needs on Linux.
log "lib/vscode: npm install --omit=dev --ignore-scripts"
(cd "$VS" && npm install --omit=dev --ignore-scripts "${npm_q[@]}" >&2) || die "npm install in $VS failed"
for mod in node-pty @vscode/spdlog kerberos native-watchdog; do
  log "lib/vscode: npm rebuild $mod"
  # node-pty's build runs `npx node-gyp`: npm_config_yes avoids the interactive prompt.
  (cd "$VS" && npm_config_yes=true npm rebuild "$mod" "${npm_q[@]}" >&2) \
    || die "npm rebuild $mod failed (kerberos needs libkrb5-dev; all need build-essential and python3)"
done
# 2. ripgrep from Debian instead of the GitHub download.
mkdir -p "$VS/node_modules/@vscode/ripgrep/bin"
ln -sfn "$(command -v rg)" "$VS/node_modules/@vscode/ripgrep/bin/rg"
# 3. Links the postinstall would create.
ln -sfn node_modules "$VS/node_modules.asar"
if [ -d "$VS/bin/remote-cli" ]; then ln -sfn code-linux.sh "$VS/bin/remote-cli/code-server"; fi
if [ -d "$VS/bin/helpers" ]; then ln -sfn browser-linux.sh "$VS/bin/helpers/browser.sh"; fi
# 4. Built-in extensions' dependencies.
log "lib/vscode/extensions: npm install --omit=dev --ignore-scripts"
(cd "$VS/extensions" && npm install --omit=dev --ignore-scripts "${npm_q[@]}" >&2) || die "npm install in $VS/extensions failed"
# 5. argon2 (code-server loads it at start even with --auth none).
log "npm rebuild argon2"
(cd "$PREFIX" && npm rebuild argon2 "${npm_q[@]}" >&2) || die "npm rebuild argon2 failed"

# Smoke check: the native modules load under this Node.
(cd "$VS" && node -e "for (const m of ['node-pty','@vscode/spdlog','native-watchdog']) require(m)") \
  || die "a rebuilt native module does not load in $VS"
(cd "$PREFIX" && node -e "require('argon2')") || die "argon2 does not load in $PREFIX"

echo "$VERSION $(date -u +%FT%TZ) $(( $(date +%s) - start ))s" > "$STAMP"
log "code-server $VERSION installed in $(( $(date +%s) - start ))s at $CS"
echo "$CS"
