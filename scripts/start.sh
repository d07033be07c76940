#!/usr/bin/env bash
# `npm start`: a VS Code with KMS Envelope loaded from this checkout, a loopback KMS emulator with
# seeded Tencent, Alibaba and AWS keys, sandbox profiles for the three clouds and a local key — no cloud account.
#
#   npm start [-- --web] [-- --port N] [-- --emulator-port N] [-- --reset] [-- --check]
#     --web             use the bundled code-server even where a desktop `code` exists
#     --port N          code-server port on 127.0.0.1 (default 18080)
#     --emulator-port N emulator port on 127.0.0.1 (default 18765)
#     --reset           forget the sandbox (emulator keys, profiles, keyring, VS Code state) and start fresh
#     --check           set up the sandbox, list each sandbox profile's keys and seal + unseal a value
#                       with the local key through the CLI, then stop (no VS Code)
#     --sandbox DIR     keep the sandbox in DIR instead of .cache/sandbox
#
# State kept between runs in .cache/sandbox/: emulator-state.json (keys, credentials), config/
# (profiles, local key metadata; KMS_ENVELOPE_CONFIG_DIR), workspace/ (sample files), vscode/.
# Secrets (the emulator's credentials, local key material) go only to the OS keychain. Where no
# Secret Service answers (headless box), a private D-Bus + gnome-keyring is started for the session
# with its keyring in .cache/sandbox/keyring/ (never your ~/.local/share/keyrings).
# Ctrl+C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# The options as given: the loop below consumes "$@", and the re-run inside a private keyring needs them.
ARGS=("$@")
SANDBOX="$ROOT/.cache/sandbox"
PORT=18080
EMU_PORT=18765
WEB=0
RESET=0
CHECK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --web) WEB=1; shift ;;
    --port) PORT="${2:?--port needs a number}"; shift 2 ;;
    --emulator-port) EMU_PORT="${2:?--emulator-port needs a number}"; shift 2 ;;
    --reset) RESET=1; shift ;;
    --check) CHECK=1; shift ;;
    --sandbox) SANDBOX="${2:?--sandbox needs a folder}"; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "start: unknown option $1 (see npm start -- --help)" >&2; exit 1 ;;
  esac
done
case "$SANDBOX" in /*) ;; *) SANDBOX="$ROOT/$SANDBOX" ;; esac
SHOW=${SANDBOX#"$ROOT"/} # the sandbox as messages name it
say() { printf '\033[1mstart:\033[0m %s\n' "$*"; }
die() { printf 'start: ERROR: %s\n' "$*" >&2; exit 1; }

if [ "${KMS_ENVELOPE_START_PREPARED:-}" != 1 ]; then
  if [ "${KMS_ENVELOPE_START_BUILT:-}" != 1 ]; then # set by tests that built already
    bash scripts/setup.sh
    say "building the extension and the CLI"
    node esbuild.mjs
  fi
  if [ "$RESET" = 1 ]; then
    say "--reset: removing $SANDBOX"
    rm -rf "$SANDBOX"
  fi
  # A Secret Service must answer for keytar; else re-run this script inside a private keyring session
  # whose keyring folder is the sandbox's own (the user's login keyring is never created or unlocked).
  if [ "${KMS_ENVELOPE_IN_KEYRING:-}" != 1 ] && ! timeout 10 node -e "require('keytar').findCredentials('kms-envelope-start-probe').then(() => process.exit(0), () => process.exit(1))" 2>/dev/null; then
    say "no OS keychain answers here: starting a private D-Bus session with gnome-keyring, keyring in $SHOW/keyring"
    if [ -d "$SANDBOX/config" ] && [ ! -d "$SANDBOX/keyring" ]; then
      # Made by an earlier npm start, whose secrets went to another keyring: start its config afresh.
      say "the sandbox's profiles and local key were made with another keyring: recreating them"
      rm -rf "$SANDBOX/config"
    fi
    mkdir -p "$SANDBOX/keyring"
    export KMS_ENVELOPE_START_PREPARED=1 KMS_ENVELOPE_KEYRING_DIR="$SANDBOX/keyring"
    exec bash scripts/with-keyring.sh bash "$0" ${ARGS[@]+"${ARGS[@]}"}
  fi
fi
export KMS_ENVELOPE_START_PREPARED=1

mkdir -p "$SANDBOX/config" "$SANDBOX/workspace" "$SANDBOX/vscode"
export KMS_ENVELOPE_CONFIG_DIR="$SANDBOX/config"
CLI=(node "$ROOT/dist/cli.js")

EMU_PID=""
SERVE_PID=""
cleanup() {
  trap - EXIT INT TERM
  [ -n "$SERVE_PID" ] && kill -TERM "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
  [ -n "$EMU_PID" ] && kill -TERM "$EMU_PID" 2>/dev/null && wait "$EMU_PID" 2>/dev/null
  say "stopped (sandbox kept in $SHOW; npm start -- --reset forgets it)"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the emulator ------------------------------------------------------------------------------
# Its banner (URL and credentials) is read from a pipe, never written to a file; the rest of its
# output goes to .cache/sandbox/emulator.log.
say "starting the KMS emulator on 127.0.0.1:$EMU_PORT (state: $SHOW/emulator-state.json)"
exec {EMU_FD}< <(exec "${CLI[@]}" emulator --seed --host 127.0.0.1 --port "$EMU_PORT" --state "$SANDBOX/emulator-state.json" 2>&1)
EMU_PID=$!
EMU_URL="" TC_ID="" TC_KEY="" ALI_ID="" ALI_KEY="" AWS_ID="" AWS_KEY="" banner=""
while IFS= read -r -t 30 line <&"$EMU_FD"; do
  banner+="$line"$'\n'
  case "$line" in
    *"listening on http://127.0.0.1:"*) EMU_URL="http${line##*listening on http}"; EMU_URL="${EMU_URL%% *}" ;;
    "export TENCENTCLOUD_SECRET_ID="*) TC_ID="${line#*=}" ;;
    "export TENCENTCLOUD_SECRET_KEY="*) TC_KEY="${line#*=}" ;;
    "export ALIBABA_CLOUD_ACCESS_KEY_ID="*) ALI_ID="${line#*=}" ;;
    "export ALIBABA_CLOUD_ACCESS_KEY_SECRET="*) ALI_KEY="${line#*=}" ;;
    "export AWS_ACCESS_KEY_ID="*) AWS_ID="${line#*=}" ;;
    "export AWS_SECRET_ACCESS_KEY="*) AWS_KEY="${line#*=}" ;;
    *"Stop with Ctrl+C"*) break ;;
  esac
done
if [ -z "$EMU_URL" ] || [ -z "$TC_ID" ] || [ -z "$TC_KEY" ] || [ -z "$ALI_ID" ] || [ -z "$ALI_KEY" ] || [ -z "$AWS_ID" ] || [ -z "$AWS_KEY" ]; then
  echo "$banner" | grep -v -i -E 'secret|key_id|access_key' >&2 || true
  die "the emulator did not start on 127.0.0.1:$EMU_PORT (port in use? npm start -- --emulator-port N)"
fi
unset banner
cat <&"$EMU_FD" >>"$SANDBOX/emulator.log" &
say "emulator: $EMU_URL (seeded keys in ap-guangzhou, ap-shanghai, cn-hangzhou, cn-shanghai, us-east-1, eu-west-1)"
say "emulator admin (faults, counters; scripts only, web pages are refused): curl -H 'X-KMS-Envelope-Admin: 1' $EMU_URL/__admin/counters"

# --- sandbox profiles (secrets → keychain via stdin, never argv or files) -----------------------
say "sandbox profiles: tencent/sandbox, alibaba/sandbox and aws/sandbox → the emulator; secrets in the OS keychain"
printf '%s\n%s\n' "$TC_ID" "$TC_KEY" | "${CLI[@]}" profiles add --provider tencent --name sandbox \
  --endpoint "$EMU_URL" --region ap-guangzhou --region ap-shanghai --replace >/dev/null \
  || die "kms-envelope profiles add --provider tencent failed"
printf '%s\n%s\n' "$ALI_ID" "$ALI_KEY" | "${CLI[@]}" profiles add --provider alibaba --name sandbox \
  --endpoint "$EMU_URL" --region cn-hangzhou --region cn-shanghai --replace >/dev/null \
  || die "kms-envelope profiles add --provider alibaba failed"
printf '%s\n%s\n' "$AWS_ID" "$AWS_KEY" | "${CLI[@]}" profiles add --provider aws --name sandbox \
  --endpoint "$EMU_URL" --region us-east-1 --region eu-west-1 --replace >/dev/null \
  || die "kms-envelope profiles add --provider aws failed"
unset TC_ID TC_KEY ALI_ID ALI_KEY AWS_ID AWS_KEY
if ! "${CLI[@]}" keys list --provider local --json | node -e "
  let s = ''; process.stdin.on('data', (d) => (s += d)).on('end', () => {
    const keys = JSON.parse(s); const has = (k) => k.alias === 'sandbox' || (k.aliases ?? []).includes('sandbox');
    process.exit(keys.some(has) ? 0 : 1);
  });"; then
  say "creating the local key 'sandbox' (material in the OS keychain)"
  "${CLI[@]}" keys create --provider local --alias sandbox --description "npm start sandbox key" >/dev/null \
    || die "kms-envelope keys create --provider local failed"
fi

# --- sample workspace --------------------------------------------------------------------------
W="$SANDBOX/workspace"
[ -f "$W/app.env" ] || printf '%s\n' '# Sample config with fake secrets: select a value, then F1 → "KMS Envelope: Seal Selection".' \
  'DB_HOST=db.internal' 'DB_PASSWORD=correct-horse-battery-staple' 'API_TOKEN=tok_sandbox_0123456789abcdef' > "$W/app.env"
[ -f "$W/service.yaml" ] || printf '%s\n' '# Right-click this file in the Explorer → "Seal File" writes service.yaml.sealed.' \
  'service: billing' 'database:' '  user: billing' '  password: s3cr3t-sandbox-only' > "$W/service.yaml"
[ -f "$W/TRY-ME.md" ] || cat > "$W/TRY-ME.md" <<'EOF'
# KMS Envelope sandbox

Everything here talks to the local KMS emulator (127.0.0.1) and a local key; nothing reaches a cloud.

1. Click the **KMS Envelope** icon in the activity bar: the **Keys** view shows the `sandbox`
   profiles of Tencent Cloud, Alibaba Cloud and AWS (regions with seeded keys: enabled, disabled,
   pending deletion) and the local key `sandbox`.
2. Open `app.env`, select the value of `DB_PASSWORD`, press F1 → **KMS Envelope: Seal Selection**,
   pick a key. The value becomes one armored line; **Unseal Selection** turns it back.
3. Right-click `service.yaml` in the Explorer → **Seal File**; open the `.sealed` file with
   **Open Sealed File**, edit, save (it re-seals; no plaintext copy touches the disk).
4. F1 → **KMS Envelope: Show Log** shows what the extension did (secrets redacted).

The same from a terminal: `KMS_ENVELOPE_CONFIG_DIR=.cache/sandbox/config node dist/cli.js keys list --provider tencent --profile sandbox`.
EOF

# --- --check: the sandbox answers through the CLI, then stop ------------------------------------
if [ "$CHECK" = 1 ]; then
  for p in tencent alibaba aws; do
    n=$("${CLI[@]}" keys list --provider "$p" --profile sandbox --json | node -e "
      let s = ''; process.stdin.on('data', (d) => (s += d)).on('end', () => console.log(JSON.parse(s).length));") \
      || die "kms-envelope keys list --provider $p --profile sandbox failed"
    say "check: $p/sandbox lists $n keys"
  done
  got=$(printf 'sandbox-check' | "${CLI[@]}" seal - --key local:local:sandbox --armor | "${CLI[@]}" unseal -) \
    || die "sealing with the local key 'sandbox' failed"
  [ "$got" = sandbox-check ] || die "the local key 'sandbox' did not unseal what it sealed"
  say "check: the local key 'sandbox' seals and unseals; all good"
  exit 0
fi

# --- VS Code ------------------------------------------------------------------------------------
has_desktop_code() {
  command -v code >/dev/null 2>&1 || return 1
  [ -z "${VSCODE_IPC_HOOK_CLI:-}" ] || return 1            # `code` of a remote/web session, not a desktop
  [ "$(uname)" = Darwin ] || [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] || [ -n "${WSL_DISTRO_NAME:-}" ]
}
if [ "$WEB" = 0 ] && has_desktop_code; then
  say "opening desktop VS Code with the extension from $ROOT (close the window or Ctrl+C here to stop)"
  code --new-window --wait --extensionDevelopmentPath="$ROOT" "$W" &
  SERVE_PID=$!
else
  say "installing / checking the bundled code-server (first time ~1 minute, cached in .cache/code-server)"
  bash scripts/vscode/install-code-server.sh >/dev/null
  node --import tsx scripts/vscode/serve.ts --root "$SANDBOX/vscode" --workspace "$W" --port "$PORT" &
  SERVE_PID=$!
fi
set +e
wait "$SERVE_PID"
status=$?
SERVE_PID=""
exit "$status"
