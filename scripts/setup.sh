#!/usr/bin/env bash
# Idempotent set-up used by `npm test`, `npm start` and `npm run bench`:
# Debian packages the tests and the keychain need, then `npm ci` when the lock file changed.
# Safe to run again: it does only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(libsecret-1-dev gnome-keyring dbus dbus-x11 libsecret-tools chromium libkrb5-dev ripgrep age)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null; then SUDO=sudo; else
      echo "setup: need root to install ${missing[*]} (run: apt-get install -y ${missing[*]})" >&2; exit 1
    fi
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# npm ci only when package-lock.json differs from what node_modules was installed from.
stamp=node_modules/.kms-envelope-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi
