#!/usr/bin/env bash
# Runs a command inside a private D-Bus session with an unlocked gnome-keyring, so keytar talks to a
# real Secret Service that disappears afterwards (TESTING.md).
# Usage: scripts/with-keyring.sh <command> [args...]
#
# The keyring lives in a private folder, never in the user's ~/.local/share/keyrings: that folder's
# login keyring may exist with the user's own password (unlocking it with ours fails, and creating it
# with a fixed, published password would be worse). The folder is $KMS_ENVELOPE_KEYRING_DIR when set
# (npm start keeps its sandbox's secrets in .cache/sandbox/keyring between runs), else a temporary
# one removed when the command ends. Only the session's daemons see the folder (as their
# XDG_DATA_HOME); the command keeps the caller's environment plus the private bus.
set -euo pipefail
if [ "${KMS_ENVELOPE_IN_KEYRING:-}" = 1 ]; then exec "$@"; fi
here=$(cd "$(dirname "$0")" && pwd)
run=$(mktemp -d -t kms-envelope-keyring-run.XXXXXX) # the daemon's control socket
tmp=""
if [ -n "${KMS_ENVELOPE_KEYRING_DIR:-}" ]; then
  data=$KMS_ENVELOPE_KEYRING_DIR
  mkdir -p "$data"
else
  data=$(mktemp -d -t kms-envelope-keyring.XXXXXX)
  tmp=$data
fi
chmod 700 "$data" "$run"
trap 'rm -rf "$run" ${tmp:+"$tmp"}' EXIT
export KMS_ENVELOPE_IN_KEYRING=1
# Inside the session: start the daemon on the private folder, wait until it owns the Secret Service
# name, check that its login collection is unlocked (a folder made with another password stays
# locked: say so instead of failing later with "Cannot create an item in a locked collection"),
# then run the command with the caller's XDG_DATA_HOME / XDG_RUNTIME_DIR. The session's dbus-daemon
# gets the private folders too, so a daemon it might start on demand never opens the user's keyring.
inner='
data=$1 run=$2 xdg_data=$3 xdg_run=$4; shift 4
printf "kms-envelope-test" | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1
for _ in $(seq 50); do
  dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner \
    string:org.freedesktop.secrets 2>/dev/null | grep -q "boolean true" && break
  sleep 0.1
done
locked=$(dbus-send --session --print-reply --dest=org.freedesktop.secrets /org/freedesktop/secrets/collection/login \
  org.freedesktop.DBus.Properties.Get string:org.freedesktop.Secret.Collection string:Locked 2>&1 || true)
case "$locked" in
  *"boolean false"*) ;;
  *"boolean true"*) echo "with-keyring: the private keyring in $data/keyrings did not unlock (made with another password?); remove that folder to start afresh" >&2; exit 1 ;;
  *) echo "with-keyring: gnome-keyring did not answer on the private D-Bus session ($locked); is gnome-keyring installed (bash scripts/setup.sh)?" >&2; exit 1 ;;
esac
if [ "$xdg_data" = - ]; then unset XDG_DATA_HOME; else export XDG_DATA_HOME="$xdg_data"; fi
if [ "$xdg_run" = - ]; then unset XDG_RUNTIME_DIR; else export XDG_RUNTIME_DIR="$xdg_run"; fi
exec "$@"'
# dbus-daemon warns on every start that it cannot raise its fd limit: quiet that one line at its
# source (scripts/quiet-dbus-daemon.sh), so the command's own stderr stays unfiltered and in order.
set +e
XDG_DATA_HOME="$data" XDG_RUNTIME_DIR="$run" dbus-run-session --dbus-daemon="$here/quiet-dbus-daemon.sh" -- \
  bash -c "$inner" bash "$data" "$run" "${XDG_DATA_HOME--}" "${XDG_RUNTIME_DIR--}" "$@"
status=$?
exit "$status"
