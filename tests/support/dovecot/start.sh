#!/usr/bin/env bash
# Start a private Dovecot POP3 server for the tests, using only files under DIR.
#
#   tests/support/dovecot/start.sh DIR
#
# * Config, certificate, logs, state and mail all live under DIR; nothing in /etc is
#   read or changed (`dovecot -c DIR/conf/dovecot.conf`).
# * Listens on 127.0.0.1 only: PLAIN_PORT (POP3, offers STLS) and TLS_PORT (implicit TLS).
#   Both come from the environment; when unset, free ports are picked here.
# * Any user name logs in with the one shared password (env DOVECOT_PASSWORD, default
#   "letterbox-test"); mechanisms USER/PASS, PLAIN, LOGIN, CRAM-MD5 and APOP all work.
# * SASL XOAUTH2 and OAUTHBEARER take an OAuth 2 access token instead, which Dovecot's
#   oauth2 passdb checks by POSTing it (token=...) to an introspection endpoint at
#   http://127.0.0.1:OAUTH_IDP_PORT/introspect. Nothing listens there from this script:
#   the tests' mock identity provider (tests/support/oauth_idp.rs) binds that port.
#   OAUTH_IDP_PORT comes from the environment too, or a free port is picked here. The
#   shared password is never accepted as a token (the static passdb is limited to the
#   password mechanisms).
#   Mail lives in DIR/home/<user>/Maildir, owned by DOVECOT_MAIL_UID/GID (5000 as root,
#   the caller's own uid/gid otherwise).
# * On success writes DIR/instance.env (shell-sourceable KEY=VALUE lines) and prints it.
#   Running it again while that instance is up changes nothing (prints the same file).
#
# Exit codes: 0 ok, 3 Dovecot is not installed, 1 anything else.
# Stop with tests/support/dovecot/stop.sh DIR.
set -euo pipefail

die() { echo "start.sh: $*" >&2; exit 1; }

[ $# -eq 1 ] && [ -n "$1" ] || { echo "usage: $0 DIR" >&2; exit 2; }

# --- find the binaries (non-root users often lack /usr/sbin in PATH) ---
find_bin() {
    local name=$1 d
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
    for d in /usr/sbin /usr/local/sbin /sbin /usr/bin /usr/local/bin; do
        [ -x "$d/$name" ] && { echo "$d/$name"; return 0; }
    done
    return 1
}
DOVECOT_BIN=$(find_bin dovecot) || {
    echo "start.sh: dovecot is not installed (Debian/Ubuntu: apt-get install dovecot-core dovecot-pop3d)" >&2
    exit 3
}
DOVECONF_BIN=$(find_bin doveconf) || DOVECONF_BIN=""
if [ ! -e /usr/lib/dovecot/pop3 ] && [ ! -e /usr/libexec/dovecot/pop3 ] \
    && [ ! -e /usr/local/libexec/dovecot/pop3 ]; then
    echo "start.sh: Dovecot's POP3 server is not installed (apt-get install dovecot-pop3d)" >&2
    exit 3
fi
command -v openssl >/dev/null 2>&1 || die "openssl is not installed"

mkdir -p "$1"
DIR=$(cd "$1" && pwd -P)
case "$DIR" in
    *[[:space:]\"\'\\\$\#]*) die "DIR must not contain spaces, quotes, '\\', '\$' or '#': $DIR" ;;
esac
CONF="$DIR/conf/dovecot.conf"
PIDFILE="$DIR/run/master.pid"
ENVFILE="$DIR/instance.env"
LOG="$DIR/log/dovecot.log"

is_our_master() { # PID -> true if it is alive and the Dovecot master of this DIR
    local pid=$1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    [ -r "/proc/$pid/cmdline" ] || return 0 # no /proc: trust the pid file
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$CONF"
}

# --- already running for DIR? ---
if [ -s "$PIDFILE" ] && is_our_master "$(cat "$PIDFILE")" && [ -s "$ENVFILE" ]; then
    echo "start.sh: Dovecot already running for $DIR (pid $(cat "$PIDFILE"))" >&2
    cat "$ENVFILE"
    exit 0
fi

# --- who owns what ---
if [ "$(id -u)" = 0 ]; then
    MAIL_UID=5000
    MAIL_GID=5000
    INTERNAL_USER=dovecot
    INTERNAL_GROUP=dovecot
    LOGIN_USER=dovenull
    for u in "$INTERNAL_USER" "$LOGIN_USER"; do
        getent passwd "$u" >/dev/null || die "system user '$u' is missing (normally created by the dovecot-core package)"
    done
    getent group "$INTERNAL_GROUP" >/dev/null || die "system group '$INTERNAL_GROUP' is missing"
    CHROOT_CONF=""
else
    MAIL_UID=$(id -u)
    MAIL_GID=$(id -g)
    INTERNAL_USER=$(id -un 2>/dev/null) || die "the current uid $(id -u) has no user name"
    INTERNAL_GROUP=$(id -gn 2>/dev/null) || die "the current gid $(id -g) has no group name"
    LOGIN_USER=$INTERNAL_USER
    # chroot needs root
    CHROOT_CONF="
service anvil {
  chroot =
}
service pop3-login {
  chroot =
}"
fi
PASSWORD=${DOVECOT_PASSWORD:-letterbox-test}
case "$PASSWORD" in
    *[[:space:]\"\'\\\$\#]* | "") die "DOVECOT_PASSWORD must be non-empty without spaces, quotes, '\\', '\$' or '#'" ;;
esac

mkdir -p "$DIR"/{conf,run,state,log,ssl,home}
chmod 755 "$DIR" "$DIR/home"
# DIR/home belongs to the mail user, so Dovecot can create the home of any user name
# on first login (the tests usually create it beforehand, with mail in it).
[ "$(id -u)" != 0 ] || chown "$MAIL_UID:$MAIL_GID" "$DIR/home"
rm -f "$ENVFILE"

# As root the mail processes run as MAIL_UID: every directory above DIR/home must be
# searchable by it (a `mktemp -d` parent is mode 700, for example).
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1; then
    setpriv --reuid="$MAIL_UID" --regid="$MAIL_GID" --clear-groups test -x "$DIR/home" ||
        die "uid $MAIL_UID cannot reach $DIR/home: make every parent directory of $DIR searchable (chmod o+x)"
fi

# --- self-signed certificate: CN=localhost, SAN localhost + 127.0.0.1 ---
if [ ! -s "$DIR/ssl/cert.pem" ] || [ ! -s "$DIR/ssl/key.pem" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 \
        -keyout "$DIR/ssl/key.pem" -out "$DIR/ssl/cert.pem" \
        -subj "/CN=localhost" \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -addext "basicConstraints=critical,CA:TRUE" \
        >"$DIR/ssl/openssl.log" 2>&1 || { cat "$DIR/ssl/openssl.log" >&2; die "openssl could not create the certificate"; }
    chmod 600 "$DIR/ssl/key.pem"
    chmod 644 "$DIR/ssl/cert.pem"
fi

# --- ports ---
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_ports() { # prints three distinct free ports
    if command -v python3 >/dev/null 2>&1; then
        python3 - <<'PY' && return 0
import socket
socks = []
for _ in range(3):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(*(s.getsockname()[1] for s in socks))
PY
    fi
    local found=() p
    p=$((20000 + (RANDOM * 32768 + RANDOM + $$) % 30000))
    while [ ${#found[@]} -lt 3 ]; do
        port_in_use "$p" || found+=("$p")
        p=$((p + 1))
    done
    echo "${found[@]}"
}

write_conf() {
    cat >"$CONF" <<EOF
# Generated by tests/support/dovecot/start.sh for the Letterbox tests -- do not edit.
# $($DOVECOT_BIN --version 2>/dev/null || echo "dovecot")
instance_name = letterbox-test-$(basename "$DIR")
base_dir = $DIR/run
state_dir = $DIR/state
protocols = pop3
listen = 127.0.0.1
shutdown_clients = yes

log_path = $LOG
info_log_path = $LOG
debug_log_path = $LOG
log_timestamp = "%Y-%m-%d %H:%M:%S "
auth_verbose = yes
login_log_format_elements = user=<%u> method=%m rip=%r lip=%l mpid=%e %c session=<%{session}>

default_internal_user = $INTERNAL_USER
default_internal_group = $INTERNAL_GROUP
default_login_user = $LOGIN_USER
first_valid_uid = $MAIL_UID
first_valid_gid = $MAIL_GID

# TLS: implicit on $TLS_PORT, STLS on $PLAIN_PORT
ssl = yes
ssl_cert = <$DIR/ssl/cert.pem
ssl_key = <$DIR/ssl/key.pem
ssl_min_protocol = TLSv1.2

# Auth: every user name, one shared plaintext password (needed by CRAM-MD5 and APOP),
# for the password mechanisms only (USER/PASS is PLAIN inside Dovecot) ...
disable_plaintext_auth = no
auth_mechanisms = plain login cram-md5 apop xoauth2 oauthbearer
passdb {
  driver = static
  args = password=$PASSWORD
  mechanisms = plain login cram-md5 apop
}
# ... and OAuth 2 access tokens (XOAUTH2, OAUTHBEARER), checked by the tests' mock
# identity provider on 127.0.0.1:$OAUTH_IDP_PORT (see oauth2.conf.ext).
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $DIR/conf/oauth2.conf.ext
}
userdb {
  driver = static
  args = uid=$MAIL_UID gid=$MAIL_GID home=$DIR/home/%u
}

mail_location = maildir:~/Maildir
pop3_uidl_format = %08Xu%08Xv
pop3_logout_format = top=%t/%p, retr=%r/%b, del=%d/%m, size=%s, in=%i, out=%o

service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = $PLAIN_PORT
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = $TLS_PORT
    ssl = yes
  }
}
protocol pop3 {
  mail_max_userip_connections = 1000
}$CHROOT_CONF
EOF
    # The oauth2 passdb: every token is introspected (RFC 7662 style POST, body
    # token=<token>); the answer must say "active": true and name the user logging in.
    cat >"$DIR/conf/oauth2.conf.ext" <<EOF
# Generated by tests/support/dovecot/start.sh for the Letterbox tests -- do not edit.
introspection_mode = post
introspection_url = http://127.0.0.1:$OAUTH_IDP_PORT/introspect
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 10000
EOF
}

AUTO_PORTS=0
if [ -z "${PLAIN_PORT:-}" ] || [ -z "${TLS_PORT:-}" ] || [ -z "${OAUTH_IDP_PORT:-}" ]; then
    AUTO_PORTS=1
fi
[ -z "${PLAIN_PORT:-}" ] || [[ "$PLAIN_PORT" =~ ^[0-9]+$ ]] || die "PLAIN_PORT must be a number"
[ -z "${TLS_PORT:-}" ] || [[ "$TLS_PORT" =~ ^[0-9]+$ ]] || die "TLS_PORT must be a number"
[ -z "${OAUTH_IDP_PORT:-}" ] || [[ "$OAUTH_IDP_PORT" =~ ^[0-9]+$ ]] || die "OAUTH_IDP_PORT must be a number"
ENV_PLAIN_PORT=${PLAIN_PORT:-}
ENV_TLS_PORT=${TLS_PORT:-}
ENV_OAUTH_IDP_PORT=${OAUTH_IDP_PORT:-}

start_once() { # returns 0 when the master runs and both ports accept connections
    local pid="" i port
    write_conf
    if [ -n "$DOVECONF_BIN" ]; then
        "$DOVECONF_BIN" -c "$CONF" -n >"$DIR/conf/doveconf-n.txt" 2>>"$LOG" ||
            { echo "start.sh: doveconf rejected $CONF:" >&2; tail -n 20 "$LOG" >&2; exit 1; }
    fi
    rm -f "$PIDFILE"
    # stdio must not stay attached to the caller (a test harness waits for EOF on it)
    echo "--- start.sh: starting Dovecot (plain $PLAIN_PORT, tls $TLS_PORT, oauth idp $OAUTH_IDP_PORT) $(date '+%F %T')" >>"$LOG"
    "$DOVECOT_BIN" -c "$CONF" </dev/null >>"$LOG" 2>&1 || return 1
    for i in $(seq 100); do # up to 10 s
        if [ -s "$PIDFILE" ]; then pid=$(cat "$PIDFILE"); break; fi
        sleep 0.1
    done
    [ -n "$pid" ] || return 1
    for port in "$PLAIN_PORT" "$TLS_PORT"; do
        for i in $(seq 100); do # up to 10 s each
            kill -0 "$pid" 2>/dev/null || return 1
            port_in_use "$port" && continue 2
            sleep 0.1
        done
        return 1
    done
    DOVECOT_PID=$pid
    return 0
}

# A stale master of this DIR (running, but instance.env gone): stop it first.
if [ -s "$PIDFILE" ] && is_our_master "$(cat "$PIDFILE")"; then
    "$(dirname "$0")/stop.sh" "$DIR" >&2 || true
fi

attempts=1
[ "$AUTO_PORTS" = 1 ] && attempts=3 # an auto-picked port may be taken meanwhile: pick again
DOVECOT_PID=""
for attempt in $(seq "$attempts"); do
    if [ "$AUTO_PORTS" = 1 ]; then # a port given in the environment is kept
        read -r P1 P2 P3 < <(pick_ports)
        PLAIN_PORT=${ENV_PLAIN_PORT:-$P1}
        TLS_PORT=${ENV_TLS_PORT:-$P2}
        OAUTH_IDP_PORT=${ENV_OAUTH_IDP_PORT:-$P3}
        if [ "$PLAIN_PORT" = "$TLS_PORT" ] || [ "$PLAIN_PORT" = "$OAUTH_IDP_PORT" ] ||
            [ "$TLS_PORT" = "$OAUTH_IDP_PORT" ]; then
            [ "$attempt" != "$attempts" ] && continue
            die "ports clash: plain $PLAIN_PORT, tls $TLS_PORT, oauth idp $OAUTH_IDP_PORT"
        fi
    fi
    if start_once; then break; fi
    # clean up a half-started master before retrying / giving up
    if [ -s "$PIDFILE" ] && is_our_master "$(cat "$PIDFILE")"; then
        kill -TERM "$(cat "$PIDFILE")" 2>/dev/null || true
        sleep 0.5
    fi
    if [ "$attempt" = "$attempts" ]; then
        echo "start.sh: Dovecot did not come up for $DIR (plain port $PLAIN_PORT, tls port $TLS_PORT)." >&2
        echo "start.sh: last lines of $LOG:" >&2
        tail -n 25 "$LOG" >&2 || true
        exit 1
    fi
done

cat >"$ENVFILE.tmp" <<EOF
DOVECOT_DIR=$DIR
DOVECOT_PLAIN_PORT=$PLAIN_PORT
DOVECOT_TLS_PORT=$TLS_PORT
DOVECOT_OAUTH_IDP_PORT=$OAUTH_IDP_PORT
DOVECOT_CA_FILE=$DIR/ssl/cert.pem
DOVECOT_PASSWORD=$PASSWORD
DOVECOT_MAIL_UID=$MAIL_UID
DOVECOT_MAIL_GID=$MAIL_GID
DOVECOT_HOME_ROOT=$DIR/home
DOVECOT_PID=$DOVECOT_PID
EOF
mv -f "$ENVFILE.tmp" "$ENVFILE"
cat "$ENVFILE"
