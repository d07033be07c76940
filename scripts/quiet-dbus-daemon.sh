#!/usr/bin/env bash
# dbus-daemon for scripts/with-keyring.sh (dbus-run-session --dbus-daemon=…): the same daemon with its
# stderr silenced. In a throw-away session it only says "Failed to set fd limit" and logs service
# activations; filtering that through a pipe delayed the command's own errors past its last line.
# (dbus-run-session itself still reports a daemon that fails to start.)
exec dbus-daemon "$@" 2>/dev/null
