#!/usr/bin/env bash
# mpop runner for the Letterbox fetch benchmark (bench/fetch_bench.py).
#
#   bench/mpop.sh --host H --port P --user U --cafile F [--password-env VAR] OUT
#
# Fetches every message over implicit TLS (verified against F), keeps it on the server
# (`keep on`, `only_new off`, a fresh uidls file) and delivers it to the Maildir OUT/mail.
# mpop itself makes every delivery durable (tmp/ -> fsync -> link into new/).
# The password comes from the environment variable VAR (default POP3_PASSWORD); it is
# written only into OUT/mpoprc (mode 600), which mpop requires to be private.
#
# Needs mpop (Debian/Ubuntu: apt-get install mpop). Exit status is mpop's.
set -euo pipefail

usage() { echo "usage: $0 --host H --port P --user U --cafile F [--password-env VAR] OUT" >&2; exit 2; }

HOST=127.0.0.1 PORT="" USER_NAME="" CAFILE="" PW_VAR=POP3_PASSWORD OUT=""
while [ $# -gt 0 ]; do
    case $1 in
        --host) HOST=${2:?}; shift 2 ;;
        --port) PORT=${2:?}; shift 2 ;;
        --user) USER_NAME=${2:?}; shift 2 ;;
        --cafile) CAFILE=${2:?}; shift 2 ;;
        --password-env) PW_VAR=${2:?}; shift 2 ;;
        -h|--help) usage ;;
        -*) echo "$0: unknown option $1" >&2; usage ;;
        *) [ -z "$OUT" ] || usage; OUT=$1; shift ;;
    esac
done
[ -n "$PORT" ] && [ -n "$USER_NAME" ] && [ -n "$CAFILE" ] && [ -n "$OUT" ] || usage
[ -n "${!PW_VAR:-}" ] || { echo "$0: environment variable $PW_VAR is not set" >&2; exit 2; }
command -v mpop >/dev/null 2>&1 || { echo "$0: mpop is not installed (apt-get install mpop)" >&2; exit 3; }

mkdir -p "$OUT/mail/cur" "$OUT/mail/new" "$OUT/mail/tmp"
OUT=$(cd "$OUT" && pwd)
CAFILE=$(cd "$(dirname "$CAFILE")" && pwd)/$(basename "$CAFILE")
rm -f "$OUT/mpop.uidls" # fresh: every message counts as new

# mpoprc strings may be double-quoted; escape \ and " inside
PW=${!PW_VAR}
PW=${PW//\\/\\\\}
PW=${PW//\"/\\\"}

umask 077
cat >"$OUT/mpoprc" <<EOF
defaults
account bench
host $HOST
port $PORT
user $USER_NAME
password "$PW"
auth user
tls on
tls_starttls off
tls_trust_file $CAFILE
pipelining auto
keep on
only_new off
uidls_file $OUT/mpop.uidls
delivery maildir $OUT/mail
EOF
exec mpop --quiet -C "$OUT/mpoprc" bench
