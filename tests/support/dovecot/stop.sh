#!/usr/bin/env bash
# Stop the private Dovecot that tests/support/dovecot/start.sh started for DIR.
#
#   tests/support/dovecot/stop.sh DIR
#
# Signals only the master PID recorded in DIR/run/master.pid, and only after checking
# that this process really runs DIR/conf/dovecot.conf. Not running: prints a note, exit 0.
set -uo pipefail

[ $# -eq 1 ] && [ -n "$1" ] || { echo "usage: $0 DIR" >&2; exit 2; }
if [ ! -d "$1" ]; then
    echo "stop.sh: $1 does not exist - nothing to stop" >&2
    exit 0
fi
DIR=$(cd "$1" && pwd -P)
CONF="$DIR/conf/dovecot.conf"
PIDFILE="$DIR/run/master.pid"

# Alive and not a zombie (an exited daemon whose parent, often PID 1, has not reaped it).
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    [ -r "/proc/$1/stat" ] || return 0
    local rest
    rest=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
    [ "${rest%% *}" != Z ]
}

rm -f "$DIR/instance.env"
if [ ! -s "$PIDFILE" ]; then
    echo "stop.sh: no $PIDFILE - Dovecot not running for $DIR" >&2
    exit 0
fi
PID=$(cat "$PIDFILE")
if ! [[ "$PID" =~ ^[0-9]+$ ]] || ! alive "$PID"; then
    echo "stop.sh: stale pid file ($PID) - Dovecot not running for $DIR" >&2
    rm -f "$PIDFILE"
    exit 0
fi
if [ -r "/proc/$PID/cmdline" ] && ! tr '\0' ' ' <"/proc/$PID/cmdline" | grep -qF -- "$CONF"; then
    echo "stop.sh: pid $PID is not the Dovecot of $DIR; not touching it" >&2
    rm -f "$PIDFILE"
    exit 1
fi

kill -TERM "$PID"
for _ in $(seq 100); do # up to 10 s
    if ! alive "$PID"; then
        rm -f "$PIDFILE"
        echo "stop.sh: stopped Dovecot pid $PID ($DIR)"
        exit 0
    fi
    sleep 0.1
done
echo "stop.sh: Dovecot pid $PID did not exit within 10 s; sending SIGKILL" >&2
kill -KILL "$PID" 2>/dev/null || true
rm -f "$PIDFILE"
exit 1
