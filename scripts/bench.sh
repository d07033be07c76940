#!/usr/bin/env bash
# `npm run bench`: every bench/*.bench.ts in turn, under a private keyring. Each prints ratios
# against a baseline measured in the same run (never absolute pass/fail timings).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node esbuild.mjs
# A throw-away config dir and keyring file for the run (removed at the end), so benchmark keys never
# mix with the user's own.
BENCH_TMP=$(mktemp -d -t kms-envelope-bench.XXXXXX)
trap 'rm -rf "$BENCH_TMP"' EXIT
export KMS_ENVELOPE_CONFIG_DIR="${KMS_ENVELOPE_CONFIG_DIR:-$BENCH_TMP/config}"
export XDG_DATA_HOME="$BENCH_TMP/xdg-data"
mkdir -p "$XDG_DATA_HOME"
only="${1:-}"
for f in bench/*.bench.ts; do
  [ -n "$only" ] && [[ "$f" != *"$only"* ]] && continue
  printf '\n=== %s\n' "$f"
  bash scripts/with-keyring.sh node --import tsx "$f"
done
