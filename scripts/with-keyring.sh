#!/usr/bin/env bash
# Runs a command inside a private D-Bus session with an unlocked gnome-keyring, so keytar
# talks to a real Secret Service that disappears afterwards (TESTING.md).
# Usage: scripts/with-keyring.sh <command> [args...]
set -euo pipefail
if [ "${KMS_ENVELOPE_IN_KEYRING:-}" = 1 ]; then exec "$@"; fi
export KMS_ENVELOPE_IN_KEYRING=1
inner='printf "kms-envelope-test" | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1; exec "$@"'
exec dbus-run-session -- bash -c "$inner" bash "$@" 2> >(grep -v -e "Unable to set up file descriptor limit" -e "fd limit" >&2)
