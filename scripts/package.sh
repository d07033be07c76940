#!/usr/bin/env bash
# `npm run package`: builds the .vsix users install.
#
#   bash scripts/package.sh [--target <target>]      → dist/kms-envelope-<version>-<target>.vsix
#
# Two kinds of package (VS Code / the Marketplace / Open VSX install the platform one where it exists,
# else the universal one):
#
# - Platform packages (the default, for this machine's <os>-<cpu>): the bundle plus keytar, the native
#   module that reaches the OS keychain the kms-envelope CLI shares. Why not `vsce package
#   --no-dependencies`: it would leave node_modules/keytar out. So vsce runs with its dependency
#   detection and .vscodeignore (an allow-list) keeps exactly the bundle (dist/extension.js, a launcher,
#   and the ES module chunks in dist/extension/ it loads, most of them on first use), media/, the docs and
#   keytar's runtime files (package.json, lib/, build/Release/keytar.node) — checked below.
#   keytar.node is compiled for one OS/CPU, so the package is platform-specific (`vsce --target`). Build
#   each one ON that platform (the release workflow's matrix: npm ci there compiles keytar, then this
#   script); asking for another platform's target here fails, because the keytar.node in node_modules
#   would not load there. keytar uses N-API: one binary per platform serves every VS Code version.
# - `--target universal`: no native module at all (`vsce --no-dependencies`, bundle built with
#   KMS_ENVELOPE_TARGET=universal, see esbuild.mjs): secrets go to VS Code's SecretStorage on every OS,
#   so they are not shared with the CLI. Builds anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."

# Every target we publish. The release workflow (.github/workflows/release.yml) builds each of them;
# test/unit/release.test.ts checks the two lists agree.
TARGETS=(linux-x64 linux-arm64 linux-armhf alpine-x64 alpine-arm64 darwin-x64 darwin-arm64 win32-x64 win32-arm64 universal)

host_target() {
  local os arch
  os=$(node -p process.platform) arch=$(node -p process.arch)
  case "$arch" in x64|arm64) ;; arm) arch=armhf ;; *) echo "package: unsupported CPU $arch" >&2; exit 1 ;; esac
  if [ "$os" = linux ] && [ -f /etc/alpine-release ]; then os=alpine; fi
  echo "$os-$arch"
}

host=$(host_target)
target=$host
while [ $# -gt 0 ]; do
  case "$1" in
    --target) target="${2:?--target needs a value}"; shift 2 ;;
    *) echo "package: unknown option $1 (usage: scripts/package.sh [--target <target>])" >&2; exit 1 ;;
  esac
done
case " ${TARGETS[*]} " in *" $target "*) ;; *) echo "package: unknown target $target (one of: ${TARGETS[*]})" >&2; exit 1 ;; esac

native=node_modules/keytar/build/Release/keytar.node
if [ "$target" != universal ]; then
  if [ "$target" != "$host" ]; then
    echo "package: --target $target cannot be built on this $host machine: $native is a $host binary. Run npm ci && npm run package on a $target machine (or --target universal, which has no native module)." >&2
    exit 1
  fi
  [ -f "$native" ] || { echo "package: $native is missing: npm ci (keytar compiles against libsecret-1-dev on Linux)" >&2; exit 1; }
  node -e "require('./$native')" || { echo "package: $native does not load on this machine: npm rebuild keytar" >&2; exit 1; }
fi

version=$(node -p "require('./package.json').version")
name=$(node -p "require('./package.json').name")
out="dist/$name-$version-$target.vsix"
mkdir -p dist
rm -f "$out"
# vsce runs the manifest's vscode:prepublish (production esbuild build, icon) before collecting files;
# KMS_ENVELOPE_TARGET tells esbuild.mjs which bundle to build.
export KMS_ENVELOPE_TARGET=$target
if [ "$target" = universal ]; then vsce_args=(--no-dependencies); else vsce_args=(--target "$target"); fi
vsce_log=$(mktemp)
trap 'rm -f "$vsce_log"' EXIT
if ! npx --no-install vsce package "${vsce_args[@]}" --out "$out" >"$vsce_log" 2>&1; then
  cat "$vsce_log" >&2
  echo "package: vsce package failed" >&2
  exit 1
fi
grep -E '^ (WARNING|DONE) ' "$vsce_log" >&2 || true

# A .vsix is a zip: list it / print one member with unzip, or Python where there is no unzip (Git Bash).
python=$(command -v python3 || command -v python || echo python3)
zip_list() {
  if command -v unzip >/dev/null; then unzip -Z1 "$1"
  else "$python" -c 'import sys, zipfile; print("\n".join(zipfile.ZipFile(sys.argv[1]).namelist()))' "$1"; fi
}
zip_cat() {
  if command -v unzip >/dev/null; then unzip -p "$1" "$2"
  else "$python" -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' "$1" "$2"; fi
}

# A platform package holds the bundle and keytar's native module, and nothing else from node_modules;
# the universal one holds no node_modules at all, and its bundle requires no keytar.
listing=$(zip_list "$out")
need=(extension/package.json extension/dist/extension.js extension/dist/extension/main.mjs extension/dist/icon.png extension/media/kms.svg extension/schemas/kms-envelope-policy.schema.json)
if [ "$target" != universal ]; then
  need+=(extension/node_modules/keytar/lib/keytar.js extension/node_modules/keytar/build/Release/keytar.node extension/node_modules/keytar/package.json)
fi
for f in "${need[@]}"; do
  grep -qx "$f" <<<"$listing" || { echo "package: $out lacks $f (see .vscodeignore)" >&2; exit 1; }
done
# Every chunk of the extension bundle the build wrote (the launcher loads them by relative path).
for f in dist/extension/*.mjs dist/extension/chunks/*.mjs; do
  grep -qx "extension/$f" <<<"$listing" || { echo "package: $out lacks $f, a chunk of the bundle (see .vscodeignore)" >&2; exit 1; }
done
if [ "$target" = universal ]; then
  extra=$(grep '^extension/node_modules/' <<<"$listing" || true)
  # An external keytar would be a require("keytar") call (renamed by the minifier) in some chunk.
  bundle=$(for f in $(grep -E '^extension/dist/.*\.m?js$' <<<"$listing"); do zip_cat "$out" "$f"; done)
  if grep -q '("keytar")' <<<"$bundle"; then
    echo "package: the universal bundle requires keytar (was it built with KMS_ENVELOPE_TARGET=universal?)" >&2; exit 1
  fi
else
  extra=$(grep '^extension/node_modules/' <<<"$listing" | grep -v '^extension/node_modules/keytar/' || true)
fi
[ -z "$extra" ] || { echo "package: unexpected node_modules in $out (bundle them with esbuild instead):" >&2; echo "$extra" >&2; exit 1; }
if grep -q '\.map$' <<<"$listing"; then echo "package: source maps in $out" >&2; exit 1; fi

echo "package: $out ($(du -k "$out" | cut -f1) KiB, $(wc -l <<<"$listing") files, target $target)" >&2
echo "$out"
