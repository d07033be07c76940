#!/usr/bin/env bash
# `npm run demo`: the main job on the embedded default, with no account and no network —
# a local key in the OS keychain, a sample config file sealed, inspected and unsealed byte-identical
# with the `kms-envelope` CLI. Idempotent: run it again and it reuses the key and rewrites the files.
#
#   npm run demo [-- --reset]      --reset forgets the demo key and files first
#
# State in .cache/demo/ (gitignored): config/ (KMS_ENVELOPE_CONFIG_DIR: local key metadata only)
# and work/ (the sample file, the sealed blob, the unsealed copy). Key material goes only to the OS
# keychain; where no Secret Service answers (headless box), gnome-keyring is started in a private
# D-Bus session for this run (scripts/with-keyring.sh), its keyring in .cache/demo/keyring/ (never
# your ~/.local/share/keyrings).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEMO="$ROOT/.cache/demo"
RESET=0
for a in "$@"; do
  case "$a" in
    --reset) RESET=1 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "demo: unknown option $a (see npm run demo -- --help)" >&2; exit 1 ;;
  esac
done
bold() { printf '\033[1m%s\033[0m\n' "$*"; }
say() { printf '\n\033[1mdemo:\033[0m %s\n' "$*"; }
die() { printf 'demo: ERROR: %s\n' "$*" >&2; exit 1; }
CLI=(node "$ROOT/dist/cli.js")
# Shows a kms-envelope command, then runs it.
kms() { printf '\033[2m$ kms-envelope %s\033[0m\n' "$*"; "${CLI[@]}" "$@"; }

if [ "${KMS_ENVELOPE_DEMO_PREPARED:-}" != 1 ]; then
  bash scripts/setup.sh
  say "building the CLI (node esbuild.mjs)"
  node esbuild.mjs
  if [ "${KMS_ENVELOPE_IN_KEYRING:-}" != 1 ] && ! timeout 10 node -e "require('keytar').findCredentials('kms-envelope-demo-probe').then(() => process.exit(0), () => process.exit(1))" 2>/dev/null; then
    say "no OS keychain answers here: starting a private D-Bus session with gnome-keyring for this run"
    if [ "$RESET" = 1 ]; then rm -rf "$DEMO/keyring"; fi
    if [ -d "$DEMO/config" ] && [ ! -d "$DEMO/keyring" ]; then rm -rf "$DEMO/config"; fi # made with another keyring
    mkdir -p "$DEMO/keyring"
    export KMS_ENVELOPE_DEMO_PREPARED=1 KMS_ENVELOPE_DEMO_EPHEMERAL=1 KMS_ENVELOPE_KEYRING_DIR="$DEMO/keyring"
    exec bash scripts/with-keyring.sh bash "$0" "$@"
  fi
fi

export KMS_ENVELOPE_CONFIG_DIR="$DEMO/config"
unset KMS_ENVELOPE_KEY_FILE_DIR
W="$DEMO/work"
if [ "$RESET" = 1 ]; then rm -rf "$KMS_ENVELOPE_CONFIG_DIR"; fi
[ "$RESET" = 1 ] && rm -rf "$W"
mkdir -p "$KMS_ENVELOPE_CONFIG_DIR" "$W"
cd "$W"

say "1. a local key 'demo-key' (AES-256 material in the OS keychain, metadata in $KMS_ENVELOPE_CONFIG_DIR)"
if "${CLI[@]}" keys describe --provider local --key demo-key >/dev/null 2>&1; then
  if printf probe | "${CLI[@]}" seal - --key local:local:demo-key >/dev/null 2>&1; then
    echo "reusing the existing key demo-key"
  else
    echo "demo-key is listed but its key material is not in this keychain: starting the demo key afresh"
    rm -f "$KMS_ENVELOPE_CONFIG_DIR/local-keys.json"
    kms keys create --provider local --alias demo-key --description "kms-envelope demo key" || die "could not create the local key"
  fi
else
  kms keys create --provider local --alias demo-key --description "kms-envelope demo key" || die "could not create the local key"
fi
kms keys list --provider local

say "2. a sample config file with (fake) secrets"
cat > app.env <<'EOF'
# Sample service configuration (fake secrets, for the demo only)
DB_HOST=db.internal
DB_USER=billing
DB_PASSWORD=correct-horse-battery-staple
API_TOKEN=tok_demo_0123456789abcdef
EOF
cat app.env

say "3. seal it for demo-key, binding an encryption context"
kms seal app.env --key local:local:demo-key --context app=billing --context env=demo --force

say "4. inspect the blob: format, suite, context and recipients, read from the header with no KMS call"
kms inspect app.env.sealed

say "5. unseal it (the blob names its key: no --key needed) and compare"
kms unseal app.env.sealed -o app.env.unsealed --context app=billing --force
if cmp -s app.env app.env.unsealed; then
  bold "byte-identical: app.env and app.env.unsealed ($(wc -c < app.env) bytes; sealed: $(wc -c < app.env.sealed) bytes)"
else
  die "app.env.unsealed differs from app.env"
fi

say "6. one value as armored text, for pasting into a config file"
printf '\033[2m$ printf %%s correct-horse-battery-staple | kms-envelope seal - --armor --key local:local:demo-key\033[0m\n'
ARMORED=$(printf %s correct-horse-battery-staple | "${CLI[@]}" seal - --armor --key local:local:demo-key)
echo "$ARMORED"
printf '\033[2m$ echo "kmsenv:v1:…" | kms-envelope unseal -\033[0m\n'
BACK=$(echo "$ARMORED" | "${CLI[@]}" unseal -)
[ "$BACK" = correct-horse-battery-staple ] || die "the armored value did not unseal to the original"
echo "$BACK"

say "7. the wrong context is refused (exit 2) and leaves no output"
set +e
"${CLI[@]}" unseal app.env.sealed -o wrong.env --context app=payments --force
code=$?
set -e
[ "$code" = 2 ] && [ ! -e wrong.env ] || die "expected exit 2 and no wrong.env, got exit $code"
echo "(exit $code, no wrong.env written)"

say "what happened"
cat <<EOF
- demo-key's AES-256 key material is in the OS keychain (service kms-envelope-local-keys);
  $KMS_ENVELOPE_CONFIG_DIR/local-keys.json holds only its id, alias and state.
- app.env.sealed is an AWS Encryption SDK message (v2, committing AES-256-GCM suite): a fresh data
  key encrypted the file, demo-key wrapped the data key, the context app=billing,env=demo is
  authenticated in the header.
- Files are in $W.

Try next (with KMS_ENVELOPE_CONFIG_DIR=$KMS_ENVELOPE_CONFIG_DIR):
  node dist/cli.js keys disable --key demo-key     then unseal again: exit 3 and how to fix it
  node dist/cli.js keys enable --key demo-key
  node dist/cli.js keys export --key demo-key --out demo-key.json   move the key to another machine
  node dist/cli.js --help                          all commands, keyrefs and exit codes
  npm run demo -- --reset                          start the demo from scratch
EOF
if [ "${KMS_ENVELOPE_DEMO_EPHEMERAL:-}" = 1 ]; then
  echo
  echo "Note: no OS keychain was running, so this demo started gnome-keyring in a private D-Bus session"
  echo "for the run (its keyring is in .cache/demo/keyring, so demo-key is reused next time)."
  echo "To run the CLI yourself here: KMS_ENVELOPE_KEYRING_DIR=.cache/demo/keyring bash scripts/with-keyring.sh node dist/cli.js …"
  echo "For servers without a keychain see the README, \"Headless servers\" (KMS_ENVELOPE_KEY_FILE_DIR opt-in)."
fi
