#!/usr/bin/env python3
"""Raw pipelined POP3 reader: the "no client can do much better" baseline of the fetch benchmark.

    raw_reader.py --host H --port P --cafile F --user U --password-env VAR OUT
                  [--save] [--window N] [--plain] [--timeout S] [--mode retr|list|top0]

One connection (implicit TLS verified against --cafile, or plain TCP with --plain), USER and
PASS, STAT, then RETR 1..count pipelined with a sliding window of N commands in flight
(default 100). Replies are parsed incrementally on large recv_into() chunks; multi-line
bodies are dot-unstuffed. With --save every message is written as it is, CRLF bytes
unchanged, to OUT/new/<n> (one file per message, no fsync: the cheapest possible delivery).
QUIT is sent after the last reply has arrived.

--mode list reads only UIDL and LIST (both pipelined: what a check that knows every message
needs), and --mode top0 reads UIDL, LIST and then TOP n 0 for every message through the same
window (what a first check of headers needs). The check benchmark (bench/check_bench.py)
uses these two as its yardsticks.

Prints one JSON line (counts, bytes, timings) on stdout. Exit status 0 only if exactly
`count` messages arrived; 1 on any protocol, TLS or I/O error.

Python 3 standard library only. Written for the Letterbox benchmark (bench/fetch_bench.py).
"""
import argparse
import collections
import json
import os
import socket
import ssl
import sys
import time

CHUNK = 256 * 1024  # recv_into() one reused buffer (SSLSocket.recv(big) would allocate per call)
TERM = b"\r\n.\r\n"


class ProtocolError(Exception):
    pass


class Reader:
    """Incremental POP3 reply parser over a byte stream.

    `expect` is a queue of the replies still owed by the server: "single" (one status line)
    or "multi" (status line, then a dot-terminated body when the status is +OK).
    """

    def __init__(self, sock, on_body):
        self.sock = sock
        self.on_body = on_body
        self.buf = bytearray()
        self.chunk = bytearray(CHUNK)
        self.view = memoryview(self.chunk)
        self.expect = collections.deque()
        self.in_body = False
        self.body_start = 0
        self.scan_from = 0
        self.wire_bytes = 0
        self.statuses = collections.deque()  # status lines of finished single-line replies

    def fill(self):
        n = self.sock.recv_into(self.view, CHUNK)
        if n == 0:
            raise ProtocolError(
                "connection closed by the server with %d replies outstanding" % len(self.expect))
        self.wire_bytes += n
        self.buf += self.view[:n]

    def parse(self):
        """Consume every complete reply in the buffer; return how many multi-line replies ended."""
        buf = self.buf
        pos = 0
        finished = 0
        while self.expect:
            if not self.in_body:
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    break
                status = bytes(buf[pos:eol])
                pos = eol + 2
                kind = self.expect[0]
                if not status.startswith(b"+OK"):
                    raise ProtocolError("server said %r" % status[:200])
                if kind == "single":
                    self.expect.popleft()
                    self.statuses.append(status)
                    continue
                self.in_body = True
                self.body_start = pos
                self.scan_from = pos
            # inside a multi-line body that starts at body_start
            start = self.body_start
            if buf[start:start + 3] == b".\r\n":  # empty body
                end_data, next_pos = start, start + 3
            else:
                if len(buf) - start < 3:
                    break
                hit = buf.find(TERM, max(start, self.scan_from))
                if hit < 0:
                    # the terminator may straddle the next chunk: rescan the last 4 bytes
                    self.scan_from = max(start, len(buf) - 4)
                    break
                end_data, next_pos = hit + 2, hit + 5  # keep the body's final CRLF
            self.on_body(buf[start:end_data])  # a copy: buf is resized below
            self.expect.popleft()
            self.in_body = False
            pos = next_pos
            finished += 1
        if pos:
            del buf[:pos]
            if self.in_body:
                self.body_start -= pos
                self.scan_from -= pos
        return finished

    def read_singles(self, n):
        """Block until n more single-line replies have arrived; return their status lines."""
        while len(self.statuses) < n:
            if self.parse() == 0 and len(self.statuses) < n:
                self.fill()
        return [self.statuses.popleft() for _ in range(n)]


def unstuff(data):
    """RFC 1939 dot-unstuffing of a body (a bytearray, without its terminator)."""
    if b"\r\n.." not in data and not data.startswith(b".."):
        return data
    if data.startswith(b".."):
        data = data[1:]
    return data.replace(b"\r\n..", b"\r\n.")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cafile", help="PEM file to verify the server against (required unless --plain)")
    ap.add_argument("--user", required=True)
    ap.add_argument("--password-env", default="POP3_PASSWORD", metavar="VAR",
                    help="environment variable that holds the password (default POP3_PASSWORD)")
    ap.add_argument("out", metavar="OUT", help="output folder (messages go to OUT/new/ with --save)")
    ap.add_argument("--save", action="store_true", help="write one file per message into OUT/new/")
    ap.add_argument("--window", type=int, default=100, help="RETR commands in flight (default 100)")
    ap.add_argument("--plain", action="store_true", help="plain TCP instead of implicit TLS")
    ap.add_argument("--timeout", type=float, default=60.0, help="socket timeout in seconds")
    ap.add_argument("--mode", choices=["retr", "list", "top0"], default="retr",
                    help="retr: every message (default); list: UIDL and LIST only; top0: UIDL, LIST, TOP n 0")
    args = ap.parse_args()
    if args.window < 1:
        ap.error("--window must be at least 1")
    password = os.environ.get(args.password_env)
    if password is None:
        ap.error("environment variable %s is not set" % args.password_env)
    if not args.plain and not args.cafile:
        ap.error("--cafile is required for TLS")

    t0 = time.perf_counter()
    new_dir = os.path.join(args.out, "new")
    if args.save:
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(args.out, sub), exist_ok=True)

    raw = socket.create_connection((args.host, args.port), timeout=args.timeout)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if args.plain:
        sock = raw
        tls_info = None
    else:
        ctx = ssl.create_default_context(cafile=args.cafile)  # verifies chain and host name
        sock = ctx.wrap_socket(raw, server_hostname=args.host)
        tls_info = "%s %s" % (sock.version(), sock.cipher()[0])

    state = {"n": 0, "body_bytes": 0, "saved": 0}

    def on_body(body):
        state["n"] += 1
        data = unstuff(body)
        state["body_bytes"] += len(data)
        if args.save:
            with open(os.path.join(new_dir, str(state["n"])), "wb") as f:
                f.write(data)
            state["saved"] += 1

    rd = Reader(sock, on_body)
    try:
        # greeting
        rd.expect.append("single")
        rd.read_singles(1)
        # USER, PASS and STAT in one write (Dovecot offers PIPELINING; RFC 2449)
        sock.sendall(b"USER %s\r\nPASS %s\r\nSTAT\r\n" % (args.user.encode(), password.encode()))
        rd.expect.extend(("single", "single", "single"))
        stat = rd.read_singles(3)[2].split()
        if len(stat) < 3:
            raise ProtocolError("bad STAT reply %r" % b" ".join(stat))
        count, octets = int(stat[1]), int(stat[2])
        t_login = time.perf_counter()

        listings = 0
        if args.mode in ("list", "top0"):
            sock.sendall(b"UIDL\r\nLIST\r\n")
            rd.expect.extend(("multi", "multi"))
            while listings < 2:
                got = rd.parse()
                if got == 0:
                    rd.fill()
                    got = rd.parse()
                listings += got
            state["n"] = 0
            state["body_bytes"] = 0
        command = b"RETR %d\r\n" if args.mode == "retr" else b"TOP %d 0\r\n"
        wanted = 0 if args.mode == "list" else count

        # RETR (or TOP n 0) 1..count, keeping up to `window` in flight
        sent = 0
        done = 0
        while done < wanted:
            room = min(args.window - (sent - done), wanted - sent)
            if room > 0:
                sock.sendall(b"".join(command % i for i in range(sent + 1, sent + room + 1)))
                rd.expect.extend(["multi"] * room)
                sent += room
            got = rd.parse()
            if got == 0:
                rd.fill()
                got = rd.parse()
            done += got
        t_retr = time.perf_counter()

        sock.sendall(b"QUIT\r\n")
        rd.expect.append("single")
        rd.read_singles(1)
    except (ProtocolError, OSError, ssl.SSLError, ValueError) as e:
        print(json.dumps({"tool": "raw_reader", "ok": False, "error": str(e),
                          "messages": state["n"]}), flush=True)
        return 1
    finally:
        try:
            sock.close()
        except OSError:
            pass
    t_end = time.perf_counter()

    ok = state["n"] == wanted and (not args.save or state["saved"] == wanted)
    result = {
        "tool": "raw_reader",
        "ok": ok,
        "transport": "plain" if args.plain else "tls",
        "tls": tls_info,
        "window": args.window,
        "count": count,
        "stat_octets": octets,
        "messages": state["n"],
        "saved": state["saved"],
        "body_bytes": state["body_bytes"],
        "mode": args.mode,
        "bytes_match_stat": args.mode != "retr" or state["body_bytes"] == octets,
        "wire_bytes": rd.wire_bytes,
        "login_s": round(t_login - t0, 6),
        "retr_s": round(t_retr - t_login, 6),
        "total_s": round(t_end - t0, 6),
    }
    print(json.dumps(result), flush=True)
    if not ok:
        print("raw_reader: expected %d messages, got %d (saved %d)"
              % (wanted, state["n"], state["saved"]), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
