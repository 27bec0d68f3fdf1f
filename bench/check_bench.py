#!/usr/bin/env python3
"""Check and recheck benchmark: what a check costs compared with the bytes it must move.

    python3 bench/check_bench.py [--rounds 7] [--count 10000] [--total-mb 50] [--no-build]

A private Dovecot on 127.0.0.1 (tests/support/dovecot/start.sh, implicit TLS with a verified
certificate) holds COUNT messages made by tools/make-mailbox.py (seed 1, mixed). Each round
runs, in an order rotated by one each round:

  raw-list    bench/raw_reader.py --mode list: UIDL and LIST, pipelined (the least a check
              that already knows every message can do)
  raw-top0    bench/raw_reader.py --mode top0: UIDL, LIST, then TOP n 0 for every message
              through a window of 100 (the least a first check of headers can do)
  check       letterbox check --preview-lines 0 --json into a fresh profile: TOP n 0 for
              every message, and the ledger and preview cache written for all of them
  recheck     the same command on a profile where every preview is cached already: only
              UIDL and LIST go to the server, and nothing changes in the store

It prints medians and the verdicts of issue 13: recheck <= 0.15 s and <= 2x raw-list; check
<= 1.2x raw-top0; and the bytes the recheck wrote to disk (the process's ru_oublock from
wait4, which counts what it sent to storage; its stdout goes to /dev/null) < 64 KB.
Writes target/bench/check-table.md. Python 3 standard library only; needs Dovecot.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import fetch_bench  # noqa: E402  (the Dovecot launcher and the quiet-machine helpers)

LETTERBOX = os.path.join(ROOT, "target", "release", "letterbox")
OUT = os.path.join(ROOT, "target", "bench")
USER = "bench"


def timed(argv, env):
    """Runs argv with stdout to /dev/null; returns (wall seconds, rusage) of the child."""
    start = time.perf_counter()
    with open(os.devnull, "wb") as null:
        proc = subprocess.Popen(argv, env=env, stdout=null, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        err = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit("%s failed (exit %d): %s" % (" ".join(argv[:2]), code, err[-2000:]))
    return wall, usage


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--total-mb", type=float, default=50)
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--locked"], cwd=ROOT, check=True)

    server = fetch_bench.Server(os.path.join(OUT, "check-dovecot"))
    work = tempfile.mkdtemp(prefix="letterbox-check-bench-")
    try:
        server.start()
        env = server.env
        home = os.path.join(env["DOVECOT_HOME_ROOT"], USER)
        uid, gid = int(env["DOVECOT_MAIL_UID"]), int(env["DOVECOT_MAIL_GID"])
        os.makedirs(home, exist_ok=True)
        if os.geteuid() == 0:
            os.chown(home, uid, gid)
        subprocess.run([sys.executable, os.path.join(ROOT, "tools", "make-mailbox.py"), "--maildir",
                        os.path.join(home, "Maildir"), "--count", str(args.count), "--seed", "1",
                        "--total-mb", str(args.total_mb), "--profile", "mixed", "--clean",
                        "--chown", "%d:%d" % (uid, gid)], check=True, stdout=subprocess.DEVNULL)
        port, ca, password = env["DOVECOT_TLS_PORT"], env["DOVECOT_CA_FILE"], env["DOVECOT_PASSWORD"]
        run_env = dict(os.environ, LETTERBOX_PASSWORD=password, POP3_PASSWORD=password)
        url = "pop3s://%s@localhost:%s" % (USER, port)

        def check_argv(profile):
            return [LETTERBOX, "check", "--url", url, "--ca-file", ca, "--preview-lines", "0",
                    "--json", "--profile", profile]

        def raw_argv(mode):
            return [sys.executable, os.path.join(HERE, "raw_reader.py"), "--host", "localhost", "--port",
                    port, "--cafile", ca, "--user", USER, "--mode", mode, os.path.join(work, "raw")]

        warm = os.path.join(work, "warm")
        # Warm-up: Dovecot's index, the page cache, and the profile every
        # recheck starts from (all previews cached).
        timed(check_argv(warm), run_env)
        timed(raw_argv("top0"), run_env)
        variants = {
            "raw-list": lambda r: raw_argv("list"),
            "raw-top0": lambda r: raw_argv("top0"),
            "check": lambda r: check_argv(os.path.join(work, "fresh-%d" % r)),
            "recheck": lambda r: check_argv(warm),
        }
        names = list(variants)
        walls = {n: [] for n in names}
        written = []
        for rnd in range(args.rounds):
            k = rnd % len(names)
            for name in names[k:] + names[:k]:
                fetch_bench.wait_quiet(3.0)
                wall, usage = timed(variants[name](rnd), run_env)
                walls[name].append(wall)
                if name == "recheck":
                    written.append(usage.ru_oublock * 512)
                if name == "check":
                    shutil.rmtree(os.path.join(work, "fresh-%d" % rnd), ignore_errors=True)
        med = {n: median(walls[n]) for n in names}
        lines = [
            "# letterbox check benchmark",
            "",
            "%d messages (make-mailbox.py --count %d --seed 1 --total-mb %g --profile mixed), Dovecot on "
            "127.0.0.1 over TLS, %d rounds, order rotated; medians" % (args.count, args.count, args.total_mb, args.rounds),
            "",
            "| variant | median wall s | min s |",
            "|---|---|---|",
        ]
        for n in names:
            lines.append("| %s | %.3f | %.3f |" % (n, med[n], min(walls[n])))
        bytes_med = median(written)
        verdicts = [
            ("recheck <= 0.15 s", med["recheck"] <= 0.15, "%.3f s" % med["recheck"]),
            ("recheck <= 2x raw-list", med["recheck"] <= 2 * med["raw-list"],
             "%.2fx" % (med["recheck"] / med["raw-list"])),
            ("check <= 1.2x raw-top0", med["check"] <= 1.2 * med["raw-top0"],
             "%.2fx" % (med["check"] / med["raw-top0"])),
            ("recheck writes < 64 KB", bytes_med < 64 * 1024,
             "%d bytes (median; all: %s)" % (bytes_med, ", ".join(str(b) for b in written))),
        ]
        lines.append("")
        for what, ok, value in verdicts:
            lines.append("%s: %s (%s)" % (what, "PASS" if ok else "FAIL", value))
        text = "\n".join(lines) + "\n"
        print(text)
        with open(os.path.join(OUT, "check-table.md"), "w") as f:
            f.write(text)
        return 0 if all(ok for _, ok, _ in verdicts) else 1
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
