#!/usr/bin/env bash
# One job of the release workflow (.github/workflows/release.yml), on a runner or in a container of the
# target platform: system packages, npm ci, the tests that can run there, then the .vsix.
#
#   bash scripts/release-package.sh <target> <full|build>
#     full   the whole `npm test` (Debian only: apt, gnome-keyring, Chromium, code-server), as .ci/run does
#     build  npm ci (compiles keytar here), build, and a run of the built CLI
# Leaves dist/kms-envelope-<version>-<target>.vsix (scripts/package.sh checks its contents).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: release-package.sh <target> <full|build>}
tests=${2:?usage: release-package.sh <target> <full|build>}

# Native build tools and the headers keytar compiles against (npm ci builds it for every target, the
# universal one too; libsecret on Linux, while macOS and Windows runners have Xcode / Visual Studio).
# unzip: scripts/package.sh lists the .vsix with it (busybox's cannot).
if command -v apk >/dev/null; then
  apk add --no-cache python3 make g++ libsecret-dev unzip >/dev/null
elif command -v apt-get >/dev/null && [ "$tests" != full ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3 make g++ libsecret-1-dev unzip >/dev/null
fi

case "$tests" in
  full) bash .ci/run ;; # apt packages, npm ci, npm test
  build)
    npm ci --no-audit --no-fund
    npm run build
    node dist/cli.js --version ;;
  *) echo "release-package: tests must be full or build, not $tests" >&2; exit 1 ;;
esac

bash scripts/package.sh --target "$target"
