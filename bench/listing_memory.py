#!/usr/bin/env python3
"""Peak memory of `letterbox check` on a huge mailbox.

Serves a mailbox of N messages (default 1,000,000) from a minimal POP3
server on loopback (plain TCP, PIPELINING, UIDL, TOP), runs
`letterbox check --json` against it, and reports the client's peak
resident memory (ru_maxrss of the child), its wall time, and how many
messages the JSON listed and previewed. Nothing is stored: no --profile.

    python3 bench/listing_memory.py [--count N] [--uidl-len L] [--binary PATH]

The server sends the whole UIDL and LIST listings at once and answers TOP
with a small head, so the time measured is the client's. Loopback only;
the server stops when the check ends.
"""

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def uid(n, length):
    base = f"{n:08x}-"
    return (base + "u" * length)[:length]


class Server(threading.Thread):
    def __init__(self, count, uidl_len):
        super().__init__(daemon=True)
        self.count = count
        self.uidl_len = uidl_len
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.size = 2000
        self.tops = 0

    def head(self, n):
        return (
            f"From: Sender {n} <s{n}@example.test>\r\n"
            f"Subject: Message number {n}\r\n"
            f"Date: Mon, 2 Mar 2026 10:00:00 +0000\r\n\r\n"
        ).encode()

    def listing(self, out, value):
        """A multi-line listing `n value(n)` of every message, in chunks."""
        out.write(b"+OK\r\n")
        for start in range(1, self.count + 1, 10000):
            end = min(start + 10000, self.count + 1)
            out.write("".join(f"{n} {value(n)}\r\n" for n in range(start, end)).encode())
        out.write(b".\r\n")

    def run(self):
        conn, _ = self.sock.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        out = conn.makefile("wb", buffering=1 << 20)
        inp = conn.makefile("rb", buffering=1 << 16)
        out.write(b"+OK big test server ready\r\n")
        out.flush()
        while True:
            line = inp.readline()
            if not line:
                return
            words = line.decode("ascii", "replace").strip().split()
            cmd = words[0].upper() if words else ""
            if cmd == "CAPA":
                out.write(b"+OK\r\nUSER\r\nUIDL\r\nTOP\r\nPIPELINING\r\n.\r\n")
            elif cmd in ("USER", "PASS", "NOOP"):
                out.write(b"+OK\r\n")
            elif cmd == "STAT":
                out.write(f"+OK {self.count} {self.count * self.size}\r\n".encode())
            elif cmd == "UIDL":
                self.listing(out, lambda n: uid(n, self.uidl_len))
            elif cmd == "LIST":
                self.listing(out, lambda n: self.size)
            elif cmd == "TOP":
                self.tops += 1
                out.write(b"+OK\r\n" + self.head(int(words[1])) + b".\r\n")
            elif cmd == "QUIT":
                out.write(b"+OK bye\r\n")
                out.flush()
                return
            else:
                out.write(b"-ERR unknown\r\n")
            out.flush()

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--uidl-len", type=int, default=24)
    parser.add_argument(
        "--binary", default=os.path.join(ROOT, "target", "release", "letterbox")
    )
    args = parser.parse_args()
    server = Server(args.count, args.uidl_len)
    server.start()
    env = dict(os.environ, LETTERBOX_PASSWORD="x")
    started = time.monotonic()
    child = subprocess.Popen(
        [
            args.binary, "check", "--json", "--timeout-secs", "120",
            "--url", f"pop3://bench@127.0.0.1:{server.port}",
            "--security", "none", "--allow-plaintext",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    stdout, stderr = child.communicate()
    wall = time.monotonic() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if child.returncode != 0:
        sys.stderr.write(stderr.decode(errors="replace"))
        sys.exit(f"letterbox check exited {child.returncode}")
    report = json.loads(stdout)
    previewed = sum(1 for m in report["messages"] if m["subject"] is not None)
    print(
        f"messages {len(report['messages'])}, previewed {previewed} "
        f"(TOP sent: {server.tops}), UIDL length {args.uidl_len}: "
        f"peak RSS {peak_kib / 1024:.0f} MiB, wall {wall:.1f} s"
    )


if __name__ == "__main__":
    main()
