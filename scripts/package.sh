#!/usr/bin/env bash
# `npm run package`: builds the platform-specific .vsix users install.
#
#   bash scripts/package.sh [--target <vsce-target>]      → dist/kms-envelope-<version>-<target>.vsix
#
# Why not `vsce package --no-dependencies`: keytar (the OS keychain) is a native module esbuild cannot
# bundle, and --no-dependencies would leave node_modules/keytar out. So vsce runs with its dependency
# detection and .vscodeignore (an allow-list) keeps exactly dist/extension.js, media/, the docs and
# keytar's runtime files (package.json, lib/, build/Release/keytar.node) — checked below.
#
# keytar.node is compiled for one OS/CPU, so the package is platform-specific (`vsce --target`):
# linux-x64, linux-arm64, linux-armhf, alpine-x64, darwin-x64, darwin-arm64, win32-x64, win32-arm64.
# Build each one ON that platform (CI matrix: npm ci there compiles keytar, then this script) and
# publish all of them; VS Code picks the matching one. keytar uses N-API, so one binary per platform
# serves every VS Code/Electron and Node version. Asking for another platform's target here fails,
# because the keytar.node in node_modules would not load there.
set -euo pipefail
cd "$(dirname "$0")/.."

host_target() {
  local os arch
  os=$(node -p process.platform) arch=$(node -p process.arch)
  case "$arch" in x64|arm64) ;; arm) arch=armhf ;; *) echo "package: unsupported CPU $arch" >&2; exit 1 ;; esac
  if [ "$os" = linux ] && [ -f /etc/alpine-release ]; then os=alpine; fi
  echo "$os-$arch"
}

target=$(host_target)
while [ $# -gt 0 ]; do
  case "$1" in
    --target) want="${2:?--target needs a value}"; shift 2
      if [ "$want" != "$target" ]; then
        echo "package: --target $want cannot be built on this $target machine: node_modules/keytar/build/Release/keytar.node is a $target binary. Run npm ci && npm run package on a $want machine." >&2
        exit 1
      fi ;;
    *) echo "package: unknown option $1 (usage: scripts/package.sh [--target <target>])" >&2; exit 1 ;;
  esac
done

native=node_modules/keytar/build/Release/keytar.node
[ -f "$native" ] || { echo "package: $native is missing: npm ci (keytar compiles against libsecret-1-dev on Linux)" >&2; exit 1; }
node -e "require('./$native')" || { echo "package: $native does not load on this machine: npm rebuild keytar" >&2; exit 1; }

version=$(node -p "require('./package.json').version")
name=$(node -p "require('./package.json').name")
out="dist/$name-$version-$target.vsix"
mkdir -p dist
rm -f "$out"
# vsce runs the manifest's vscode:prepublish (production esbuild build) before collecting files.
vsce_log=$(mktemp)
trap 'rm -f "$vsce_log"' EXIT
if ! npx --no-install vsce package --target "$target" --out "$out" >"$vsce_log" 2>&1; then
  cat "$vsce_log" >&2
  echo "package: vsce package failed" >&2
  exit 1
fi
grep -E '^ (WARNING|DONE) ' "$vsce_log" >&2 || true

# The package must hold the bundle and keytar's native module, and nothing else from node_modules.
listing=$(unzip -Z1 "$out")
for f in extension/package.json extension/dist/extension.js extension/node_modules/keytar/lib/keytar.js \
         extension/node_modules/keytar/build/Release/keytar.node extension/node_modules/keytar/package.json; do
  grep -qx "$f" <<<"$listing" || { echo "package: $out lacks $f (see .vscodeignore)" >&2; exit 1; }
done
extra=$(grep '^extension/node_modules/' <<<"$listing" | grep -v '^extension/node_modules/keytar/' || true)
[ -z "$extra" ] || { echo "package: unexpected node_modules in $out (bundle them with esbuild instead):" >&2; echo "$extra" >&2; exit 1; }
if grep -q '\.map$' <<<"$listing"; then echo "package: source maps in $out" >&2; exit 1; fi

echo "package: $out ($(du -k "$out" | cut -f1) KiB, $(wc -l <<<"$listing") files, target $target)" >&2
echo "$out"
