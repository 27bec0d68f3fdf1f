#!/usr/bin/env python3
"""Fetch benchmark: `letterbox fetch` against a private Dovecot on loopback, side by side
with a raw pipelined reader and mpop.

    python3 bench/fetch_bench.py [--rounds 7] [--warmup 1] [--profile] [--no-build]
                                 [--count 1000 --seed 1 --total-mb 50 --mail-profile mixed]

What it does (see bench/README.md):
  1. cargo build --release --locked (unless --no-build); the binary is target/release/letterbox.
  2. Starts Dovecot with tests/support/dovecot/start.sh target/bench/dovecot and fills the
     Maildir of user `bench` with tools/make-mailbox.py (1000 messages, 50 MiB, mixed).
  3. Warm-up: `letterbox check --preview-lines 0` (Dovecot builds its index), then
     --warmup untimed rounds of every variant.
  4. --rounds timed rounds; in each round every variant runs once, the order rotated by one
     every round. Each run gets a fresh output folder; all of them are kept until the end
     (deleting thousands of files between runs slows ext4 with `discard` on this VM).
  5. Prints a Markdown table and two verdicts:
        letterbox / raw-save <= 1.30     letterbox / mpop <= 1.00   (ratios of median wall times)
     writes target/bench/results.jsonl and target/bench/table.md; exit status 1 if a verdict
     fails or a run failed, 2 if a verdict could not be computed.
  6. --profile: one more `letterbox fetch` each under `strace -f -c` and `perf record -g`
     (and one system-wide `perf record -a`), and a "where the time goes" summary; raw outputs
     under target/bench/.
  7. Deletes the run folders and stops Dovecot (always).

Variants: letterbox, raw-save (bench/raw_reader.py --save), mpop (bench/mpop.sh), and when
/work/shared/bench/clients exists (or $SHARED_BENCH points to such a folder) the reference
tools ref-raw-save (pop3raw.py tls bench OUT --save) and ref-mpop (mpop.sh tls bench OUT).

Python 3 standard library only.
"""
import argparse
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUTROOT = os.path.join(ROOT, "target", "bench")
RUNS = os.path.join(OUTROOT, "runs")
LETTERBOX = os.path.join(ROOT, "target", "release", "letterbox")
USER = "bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1
MIB = 1024 * 1024
DEFAULT_SHARED = "/work/shared/bench/clients"


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def die(msg, code=2):
    log("fetch_bench: " + msg)
    sys.exit(code)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# ---------------------------------------------------------------- machine / server accounting

def box_ticks():
    """(busy, total) clock ticks of all CPUs from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)  # idle + iowait
    total = sum(v[:8])  # user nice system idle iowait irq softirq steal (guest is in user)
    return total - idle, total


def proc_stat(pid):
    """(comm, ppid, utime, stime, cutime, cstime) in ticks, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    comm = s[s.index("(") + 1:s.rindex(")")]
    rest = s[s.rindex(")") + 2:].split()
    return comm, int(rest[1]), int(rest[11]), int(rest[12]), int(rest[13]), int(rest[14])


class Server:
    """The private Dovecot; its master reaps every pop3 / pop3-login process, so the master's
    cutime+cstime grows by exactly the CPU the sessions used once they are gone."""

    def __init__(self, dirpath):
        self.dir = dirpath
        self.env = {}
        self.master = None

    def start(self):
        start = os.path.join(ROOT, "tests", "support", "dovecot", "start.sh")
        p = subprocess.run([start, self.dir], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            log(p.stderr)
            die("could not start Dovecot (start.sh exit %d)" % p.returncode,
                3 if p.returncode == 3 else 2)
        with open(os.path.join(self.dir, "instance.env")) as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    self.env[k] = v
        for k in ("DOVECOT_TLS_PORT", "DOVECOT_PLAIN_PORT", "DOVECOT_CA_FILE", "DOVECOT_PASSWORD",
                  "DOVECOT_MAIL_UID", "DOVECOT_MAIL_GID", "DOVECOT_HOME_ROOT"):
            if k not in self.env:
                die("instance.env lacks %s" % k)
        try:
            with open(os.path.join(self.dir, "run", "master.pid")) as f:
                self.master = int(f.read().strip())
        except (OSError, ValueError):
            self.master = int(self.env.get("DOVECOT_PID", "0")) or None

    def stop(self):
        stop = os.path.join(ROOT, "tests", "support", "dovecot", "stop.sh")
        subprocess.run([stop, self.dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def session_children(self):
        if not self.master:
            return []
        out = []
        for name in os.listdir("/proc"):
            if name.isdigit():
                st = proc_stat(int(name))
                if st and st[1] == self.master and st[0] in ("pop3", "pop3-login"):
                    out.append(int(name))
        return out

    def reaped_cpu(self, settle=True):
        """CPU seconds of all reaped children of the master; waits (bounded) until the
        session processes of the last run are gone."""
        if not self.master:
            return None
        if settle:
            deadline = time.monotonic() + 2.0
            while self.session_children() and time.monotonic() < deadline:
                time.sleep(0.01)
        st = proc_stat(self.master)
        if st is None:
            return None
        return (st[4] + st[5]) / CLK_TCK

    @property
    def log_path(self):
        return os.path.join(self.dir, "log", "dovecot.log")


STAMP = os.path.join(OUTROOT, ".last-delete")


def note_deletion():
    """Remember when this harness last deleted many files (see settle())."""
    with open(STAMP, "w") as f:
        f.write("%d\n" % time.time())


def settle(seconds):
    """ext4 here skips inodes freed in the last ~60 s when it allocates new ones, scanning
    past each of them: right after thousands of files were deleted, creating files costs
    several times more (bench/README.md). Wait until the last big deletion is `seconds` old."""
    try:
        with open(STAMP) as f:
            last = int(f.read().strip())
    except (OSError, ValueError):
        return 0.0
    left = last + seconds - time.time()
    if left > 0:
        log("waiting %.0f s: files were deleted %.0f s ago and ext4 makes new files slow for about a "
            "minute after that (--settle 0 to skip)" % (left, time.time() - last))
        time.sleep(left)
        return left
    return 0.0


def wait_quiet(max_wait, threshold=0.10):
    """Wait (at most max_wait s) until the whole box is below `threshold` busy over 0.25 s.
    Returns the last busy fraction seen."""
    frac = 0.0
    deadline = time.monotonic() + max_wait
    while True:
        b0, t0 = box_ticks()
        time.sleep(0.25)
        b1, t1 = box_ticks()
        frac = (b1 - b0) / max(1, t1 - t0)
        if frac < threshold or time.monotonic() >= deadline:
            return frac


# ---------------------------------------------------------------- output checks

def count_files(*dirs):
    n = size = 0
    for d in dirs:
        try:
            with os.scandir(d) as it:
                for e in it:
                    if e.is_file(follow_symlinks=False):
                        n += 1
                        size += e.stat(follow_symlinks=False).st_size
        except FileNotFoundError:
            pass
    return n, size


# ---------------------------------------------------------------- variants

class Ctx:
    def __init__(self, args, server, manifest):
        self.args = args
        self.srv = server
        self.port = server.env["DOVECOT_TLS_PORT"]
        self.ca = server.env["DOVECOT_CA_FILE"]
        self.password = server.env["DOVECOT_PASSWORD"]
        self.count = manifest["count"]
        self.bytes = manifest["total_bytes"]
        self.py = sys.executable


def letterbox_argv(ctx, out):
    # An empty settings folder: the user's own app accounts never count.
    return [LETTERBOX, "fetch", "--url", "pop3s://%s@localhost:%s" % (USER, ctx.port),
            "--ca-file", ctx.ca, "--profile", out, "--json",
            "--config-dir", os.path.join(RUNS, "no-settings")]


def store_dir(ctx, out):
    """The mailbox's store inside a profile: USER@HOST_PORT."""
    return os.path.join(out, "%s@localhost_%s" % (USER, ctx.port))


def make_variants(ctx, shared):
    base_env = dict(os.environ)
    lb_env = dict(base_env, LETTERBOX_PASSWORD=ctx.password)
    pw_env = dict(base_env, BENCH_POP3_PASSWORD=ctx.password)
    v = {}
    v["letterbox"] = {
        "desc": "letterbox fetch over TLS into a fresh profile (fsync per message, keep on server)",
        "argv": lambda out: letterbox_argv(ctx, out),
        "env": lb_env,
        "files": lambda out: count_files(os.path.join(store_dir(ctx, out), "Maildir", "new")),
        "leftover": lambda out: count_files(os.path.join(store_dir(ctx, out), "Maildir", "tmp"))[0],
        "exact_bytes": True,
    }
    v["raw-save"] = {
        "desc": "bench/raw_reader.py --save: 1 TLS connection, RETR window %d, 1 file/msg, no fsync"
                % ctx.args.window,
        "argv": lambda out: [ctx.py, os.path.join(HERE, "raw_reader.py"), "--host", "127.0.0.1",
                             "--port", ctx.port, "--cafile", ctx.ca, "--user", USER,
                             "--password-env", "BENCH_POP3_PASSWORD", out, "--save",
                             "--window", str(ctx.args.window)],
        "env": pw_env,
        "files": lambda out: count_files(os.path.join(out, "new")),
        "exact_bytes": True,
    }
    if shutil.which("mpop"):
        v["mpop"] = {
            "desc": "bench/mpop.sh: mpop, TLS, keep on, maildir delivery (fsync per message)",
            "argv": lambda out: ["bash", os.path.join(HERE, "mpop.sh"), "--host", "127.0.0.1",
                                 "--port", ctx.port, "--user", USER, "--cafile", ctx.ca,
                                 "--password-env", "BENCH_POP3_PASSWORD", out],
            "env": pw_env,
            "files": lambda out: count_files(os.path.join(out, "mail", "new"), os.path.join(out, "mail", "cur")),
            "exact_bytes": False,  # mpop adds a Received: header
        }
    if shared:
        ref_env = dict(base_env, HOST="127.0.0.1", PORT_TLS=ctx.port,
                       PORT_PLAIN=ctx.srv.env["DOVECOT_PLAIN_PORT"], PASSWORD=ctx.password, CAFILE=ctx.ca,
                       PY=ctx.py)
        v["ref-raw-save"] = {
            "desc": "reference pop3raw.py tls --save (window 1000, CRLF->LF, no fsync)",
            "argv": lambda out: [ctx.py, os.path.join(shared, "pop3raw.py"), "tls", USER, out, "--save"],
            "env": ref_env,
            "files": lambda out: count_files(os.path.join(out, "mail", "new")),
            "exact_bytes": False,  # stores LF line endings
        }
        v["ref-mpop"] = {
            "desc": "reference mpop.sh tls (mpop, keep on, maildir delivery)",
            "argv": lambda out: ["bash", os.path.join(shared, "mpop.sh"), "tls", USER, out],
            "env": ref_env,
            "files": lambda out: count_files(os.path.join(out, "mail", "new"), os.path.join(out, "mail", "cur")),
            "exact_bytes": False,
        }
    return v


def run_variant(ctx, name, spec, out, phase, rnd, results, failures):
    args = ctx.args
    if not args.no_sync:
        os.sync()  # write back the previous runs' unsynced files now, not during this run
    before_busy = wait_quiet(args.quiet_wait) if args.quiet_wait > 0 else None
    os.makedirs(os.path.dirname(out), exist_ok=True)
    argv = spec["argv"](out)
    srv0 = ctx.srv.reaped_cpu(settle=False)
    b0, tt0 = box_ticks()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    try:
        p = subprocess.run(argv, env=spec["env"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=args.run_timeout)
    except subprocess.TimeoutExpired as e:  # killed by subprocess.run; recorded as a failed run
        p = subprocess.CompletedProcess(argv, -9, e.stdout or b"", (e.stderr or b"") +
                                        b"\n[fetch_bench: timed out after %d s]" % args.run_timeout)
    t1 = time.perf_counter()
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    b1, tt1 = box_ticks()
    srv1 = ctx.srv.reaped_cpu(settle=True)
    wall = t1 - t0
    user = r1.ru_utime - r0.ru_utime
    sys_ = r1.ru_stime - r0.ru_stime
    server = (srv1 - srv0) if (srv0 is not None and srv1 is not None) else None
    box = (b1 - b0) / CLK_TCK
    others = None
    if server is not None:
        others = max(0.0, box - user - sys_ - server) / max(1e-9, wall * NCPU)
    nfiles, nbytes = spec["files"](out)
    problems = []
    if p.returncode != 0:
        problems.append("exit status %d" % p.returncode)
    if nfiles != ctx.count:
        problems.append("%d message files delivered, expected %d" % (nfiles, ctx.count))
    if spec.get("exact_bytes") and nbytes != ctx.bytes:
        problems.append("%d bytes delivered, expected exactly %d" % (nbytes, ctx.bytes))
    if "leftover" in spec:
        left = spec["leftover"](out)
        if left:
            problems.append("%d files left in tmp/" % left)
    stdout = p.stdout.decode(errors="replace").strip()
    client_json = None
    if stdout.startswith("{"):
        try:
            client_json = json.loads(stdout)
        except ValueError:
            client_json = None
    rec = {
        "type": "run", "variant": name, "phase": phase, "round": rnd, "ok": not problems,
        "wall_s": round(wall, 6), "user_s": round(user, 4), "sys_s": round(sys_, 4),
        "cpu_s": round(user + sys_, 4),
        "server_cpu_s": None if server is None else round(server, 3),
        "box_busy_s": round(box, 3),
        "other_cpu_share": None if others is None else round(others, 3),
        "busy_before_run": None if before_busy is None else round(before_busy, 3),
        "files": nfiles, "bytes": nbytes, "exit": p.returncode,
        "client": client_json,
        "problems": problems,
    }
    if problems:
        rec["stderr_tail"] = p.stderr.decode(errors="replace")[-2000:]
        rec["stdout_tail"] = stdout[-1000:]
        failures.append(rec)
        log("!!! RUN FAILED: %s (%s round %s): %s" % (name, phase, rnd, "; ".join(problems)))
        log(rec["stderr_tail"])
    results.append(rec)
    log("  %-13s %-6s r%-2s wall %6.3f s  cpu %5.3f s  server %s  other %s%s" % (
        name, phase, rnd, wall, user + sys_,
        "-" if server is None else "%.3f s" % server,
        "-" if others is None else "%2.0f%%" % (100 * others),
        "" if not problems else "  FAILED"))
    return rec


# ---------------------------------------------------------------- profiling

def parse_strace_c(path):
    """-> {syscall: (calls, seconds, errors)} from an `strace -c` summary."""
    out = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"\s*([\d.]+)\s+([\d.]+)\s+(\d+)\s+(\d+)\s+(\d*)\s*(\w+)\s*$", line)
            if m and m.group(6) != "total":
                out[m.group(6)] = (int(m.group(4)), float(m.group(2)), int(m.group(5) or 0))
    return out


def parse_perf_sorted(text):
    """-> [(percent, key)] from `perf report --stdio -g none` output."""
    rows = []
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = re.match(r"\s*([\d.]+)%\s+(.*\S)\s*$", line)
        if m:
            rows.append((float(m.group(1)), m.group(2)))
    return rows


def dso_group(dso):
    d = dso.strip()
    if d.startswith("[kernel"):
        return "kernel"
    if "libcrypto" in d or "libssl" in d:
        return "TLS (libcrypto/libssl)"
    if d.startswith("libc.so") or d.startswith("libc-") or d.startswith("ld-linux"):
        return "libc / ld.so"
    if d == "letterbox":
        return "letterbox (parsing, framing, store)"
    return "other (%s)" % d


def perf_samples(text):
    m = re.search(r"# Samples: (\S+)\s+of event '([^']+)'", text)
    return (m.group(1), m.group(2)) if m else ("?", "?")


def profile(ctx, lines):
    """One extra letterbox fetch per tool. Appends summary lines to `lines`."""
    pdir = os.path.join(RUNS, "profile")
    env = dict(os.environ, LETTERBOX_PASSWORD=ctx.password)
    raw = {}
    walls = {}

    def check(out, what):
        n, b = count_files(os.path.join(store_dir(ctx, out), "Maildir", "new"))
        if n != ctx.count:
            lines.append("  !! %s run delivered %d of %d messages" % (what, n, ctx.count))
        return n

    # (a) strace: syscall counts, system time, and (-w) wall time spent inside each syscall
    if shutil.which("strace"):
        for tag, extra in (("strace-c", []), ("strace-c-wall", ["-w"])):
            out = os.path.join(pdir, tag)
            path = os.path.join(OUTROOT, tag + ".txt")
            t0 = time.perf_counter()
            p = subprocess.run(["strace", "-f", "-c"] + extra + ["-o", path, "--"] + letterbox_argv(ctx, out),
                               env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            if p.returncode != 0:
                lines.append("  !! %s: letterbox exited %d: %s" % (tag, p.returncode, p.stderr.decode()[-300:]))
            walls[tag] = time.perf_counter() - t0
            check(out, tag)
            raw[tag] = parse_strace_c(path)
        sc, sw = raw["strace-c"], raw["strace-c-wall"]
        total_calls = sum(c for c, _, _ in sc.values())
        lines.append("syscalls (strace -f -c, all threads; 'sys' = CPU in the syscall, 'in-call' = wall time "
                     "inside it (-w run); under strace the fetch took %.2f / %.2f s):" % (
                         walls.get("strace-c", 0), walls.get("strace-c-wall", 0)))
        lines.append("  total %d syscalls for %d messages (%.1f per message)" % (
            total_calls, ctx.count, total_calls / max(1, ctx.count)))
        groups = [("recv/read", ("recvfrom", "recvmsg", "read", "readv")),
                  ("send/write", ("sendto", "sendmsg", "write", "writev")),
                  ("fdatasync/fsync", ("fdatasync", "fsync", "syncfs", "sync_file_range")),
                  ("rename/link", ("rename", "renameat", "renameat2", "link", "linkat")),
                  ("openat/close", ("openat", "open", "close")),
                  ("futex", ("futex",)),
                  ("poll/epoll", ("poll", "ppoll", "epoll_wait", "epoll_pwait", "select", "pselect6")),
                  ("mmap/munmap/brk", ("mmap", "munmap", "brk", "mremap", "madvise"))]
        for label, names in groups:
            calls = sum(sc.get(n, (0, 0, 0))[0] for n in names)
            syst = sum(sc.get(n, (0, 0, 0))[1] for n in names)
            wallt = sum(sw.get(n, (0, 0, 0))[1] for n in names)
            detail = ", ".join("%s %d" % (n, sc[n][0]) for n in names if n in sc)
            lines.append("  %-16s %6d calls  sys %.3f s  in-call %.3f s   (%s)" % (
                label, calls, syst, wallt, detail or "-"))
        top = sorted(sc.items(), key=lambda kv: -kv[1][1])[:8]
        lines.append("  top by sys time: " + ", ".join("%s %.3f s/%d" % (k, v[1], v[0]) for k, v in top))
    else:
        lines.append("strace: not installed (apt-get install strace) - skipped")

    # (a2) strace timeline: when the network finished, and how far the syncing lagged behind
    if shutil.which("strace"):
        out = os.path.join(pdir, "strace-timeline")
        path = os.path.join(OUTROOT, "strace-timeline.txt")
        t0 = time.perf_counter()
        p = subprocess.run(["strace", "-f", "--seccomp-bpf", "-ttt", "-T", "-e",
                            "trace=connect,sendto,recvfrom,fdatasync,fsync,rename,futex,exit_group", "-o", path,
                            "--"] + letterbox_argv(ctx, out), env=env, cwd=ROOT, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
        wall = time.perf_counter() - t0
        if p.returncode == 0:
            check(out, "strace timeline")
            try:
                lines.extend(timeline(path, wall, ctx.count))
            except (OSError, ValueError, IndexError) as e:
                lines.append("timeline: could not parse %s: %s" % (path, e))
        else:
            lines.append("timeline: strace run failed (exit %d)" % p.returncode)

    # (b) perf: CPU samples of letterbox split by shared object, symbol, syscall and thread
    if shutil.which("perf"):
        data = os.path.join(OUTROOT, "perf.data")
        for old in (data, data + ".old", os.path.join(OUTROOT, "perf-all.data"),
                    os.path.join(OUTROOT, "perf-all.data.old")):
            if os.path.exists(old):
                os.remove(old)  # perf would keep the previous one as *.old
        out = os.path.join(pdir, "perf")
        p = subprocess.run(["perf", "record", "-g", "-o", data, "--"] + letterbox_argv(ctx, out),
                           env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if p.returncode != 0 or not os.path.exists(data):
            lines.append("perf: record failed (exit %d): %s - skipped" % (p.returncode, p.stderr.decode()[-400:]))
        else:
            check(out, "perf")
            reports = {}
            for key, extra in (("dso", ["--no-children", "--sort", "dso"]),
                               ("sym", ["--no-children", "--sort", "sym"]),
                               ("thread-dso", ["--no-children", "--sort", "pid,dso"]),
                               ("children-sym", ["--children", "--sort", "sym"])):
                reports[key] = perf_report(data, extra + ["-g", "none"])
                with open(os.path.join(OUTROOT, "perf-%s.txt" % key), "w") as f:
                    f.write(reports[key])
            with open(os.path.join(OUTROOT, "perf-callgraph.txt"), "w") as f:
                f.write(perf_report(data, ["--no-children", "--sort", "dso,sym", "-g", "caller,0.5,callee,function,percent",
                                           "--percent-limit", "2"]))
            n, ev = perf_samples(reports["dso"])
            secs = perf_seconds(reports["dso"])
            grouped = {}
            for pct, dso in parse_perf_sorted(reports["dso"]):
                g = dso_group(dso)
                grouped[g] = grouped.get(g, 0.0) + pct
            lines.append("CPU of letterbox by library (perf record -g: %s samples of %s = %s CPU-s, all threads):"
                         % (n, ev, fmt(secs)))
            for g, pct in sorted(grouped.items(), key=lambda kv: -kv[1]):
                lines.append("  %5.1f%%  %-38s %s s" % (pct, g, fmt(secs * pct / 100 if secs else None)))
            # kernel CPU per syscall (inclusive): the children column of the __x64_sys_* entry points
            sysrows = []
            for line in reports["children-sym"].splitlines():
                m = re.match(r"\s*([\d.]+)%\s+([\d.]+)%\s+\[k\]\s+(?:__x64_sys_|__do_sys_|__se_sys_)(\w+)", line)
                if m and float(m.group(1)) >= 0.5:
                    sysrows.append((float(m.group(1)), m.group(3)))
            if sysrows:
                lines.append("  kernel CPU inside each syscall (inclusive): " + ", ".join(
                    "%s %.1f%%" % (name, pct) for pct, name in sysrows[:10]))
            thr = {}
            for pct, key in parse_perf_sorted(reports["thread-dso"]):
                m = re.match(r"(\d+):(\S+)\s+(.*)", key)
                if m:
                    thr.setdefault(int(m.group(1)), []).append((pct, m.group(3).strip()))
            if thr:
                main_tid = min(thr)
                parts = []
                for tid in sorted(thr, key=lambda t: -sum(p for p, _ in thr[t])):
                    tot = sum(p for p, _ in thr[tid])
                    label = "main thread (network, TLS, parsing, writes)" if tid == main_tid else "thread %d" % tid
                    parts.append("%s %.1f%% [%s]" % (label, tot, ", ".join("%s %.1f%%" % (d, p) for p, d in thr[tid][:4])))
                lines.append("  by thread: " + "; ".join(parts))
            lines.append("  top 15 symbols (self):")
            for pct, sym in parse_perf_sorted(reports["sym"])[:15]:
                lines.append("    %5.1f%%  %s" % (pct, sym))
        # system-wide: where the whole machine's CPU goes during one fetch (client vs Dovecot vs others)
        data_all = os.path.join(OUTROOT, "perf-all.data")
        out = os.path.join(pdir, "perf-all")
        t0 = time.perf_counter()
        p = subprocess.run(["perf", "record", "-a", "-o", data_all, "--"] + letterbox_argv(ctx, out),
                           env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wall = time.perf_counter() - t0
        if p.returncode == 0 and os.path.exists(data_all):
            check(out, "perf -a")
            r = perf_report(data_all, ["--no-children", "--sort", "comm,dso", "-g", "none"])
            with open(os.path.join(OUTROOT, "perf-all-comm-dso.txt"), "w") as f:
                f.write(r)
            r2 = perf_report(data_all, ["--no-children", "--sort", "comm", "-g", "none"])
            with open(os.path.join(OUTROOT, "perf-all-comm.txt"), "w") as f:
                f.write(r2)
            secs = perf_seconds(r2) or 0.0
            groups = {}
            for pct, comm in parse_perf_sorted(r2):
                c = comm.strip()
                if c == "letterbox":
                    g = "letterbox"
                elif c == "pop3-login":
                    g = "Dovecot pop3-login (TLS proxy)"
                elif c == "pop3":
                    g = "Dovecot pop3"
                elif re.match(r"(kworker|ksoftirqd|jbd2|kdamond|rcu_|migration|kswapd|swapper)", c):
                    g = "kernel threads (writeback, journal, irq)"
                elif c in ("perf", "dovecot", "auth", "anvil", "log", "config", "stats"):
                    g = "perf + idle Dovecot services"
                else:
                    g = "other tenants (%s)" % c
                groups[g] = groups.get(g, 0.0) + secs * pct / 100
            merged = {}
            for g, v in groups.items():
                key = "other tenants" if g.startswith("other tenants") else g
                merged[key] = merged.get(key, 0.0) + v
            others = sorted((g for g in groups if g.startswith("other tenants")), key=lambda g: -groups[g])[:3]
            lines.append("whole machine during one more fetch (perf record -a: wall %.3f s x %d CPUs = %.2f CPU-s "
                         "available, %.2f busy):" % (wall, NCPU, wall * NCPU, secs))
            for g, v in sorted(merged.items(), key=lambda kv: -kv[1]):
                lines.append("  %6.3f s  %s%s" % (v, g, ("  [%s]" % ", ".join(o[15:-1] for o in others))
                                                  if g == "other tenants" and others else ""))
        else:
            lines.append("perf -a: failed (exit %d) - skipped" % p.returncode)
    else:
        lines.append("perf: not installed (apt-get install linux-perf) - skipped")


def timeline(path, wall, count):
    """Summarise an `strace -f -ttt -T` trace of one letterbox fetch (see profile())."""
    calls = []  # (pid, name, start, duration, ret, args)
    pending = {}
    first_pid = None
    start_re = re.compile(r"^(\d+)\s+([\d.]+)\s+(\w+)\((.*)$")
    resumed_re = re.compile(r"^(\d+)\s+([\d.]+)\s+<\.\.\. (\w+) resumed>(.*)$")
    tail_re = re.compile(r"=\s+(-?\d+|\?).*?(?:<([\d.]+)>)?\s*$")
    t_first = None
    with open(path, errors="replace") as f:
        for line in f:
            m = resumed_re.match(line)
            if m:
                pid, t, name, rest = int(m.group(1)), float(m.group(2)), m.group(3), m.group(4)
                st, args = pending.pop((pid, name), (t, ""))
                mt = tail_re.search(rest)
                dur = float(mt.group(2)) if mt and mt.group(2) else t - st
                ret = int(mt.group(1)) if mt and mt.group(1) not in (None, "?") else None
                calls.append((pid, name, st, dur, ret, args + rest))
                continue
            m = start_re.match(line)
            if not m:
                continue
            pid, t, name, rest = int(m.group(1)), float(m.group(2)), m.group(3), m.group(4)
            if first_pid is None:
                first_pid, t_first = pid, t
            if rest.rstrip().endswith("<unfinished ...>"):
                pending[(pid, name)] = (t, rest)
                continue
            mt = tail_re.search(rest)
            dur = float(mt.group(2)) if mt and mt.group(2) else 0.0
            ret = int(mt.group(1)) if mt and mt.group(1) not in (None, "?") else None
            calls.append((pid, name, t, dur, ret, rest))
    calls.sort(key=lambda c: c[2])
    main = first_pid

    def rel(t):
        return 1000 * (t - t_first)
    conn = [c for c in calls if c[0] == main and c[1] == "connect" and "AF_INET" in c[5]]
    sends = [c for c in calls if c[0] == main and c[1] == "sendto"]
    recvs = [c for c in calls if c[0] == main and c[1] == "recvfrom" and (c[4] or 0) > 0]
    t_quit = sends[-1][2] if sends else None
    data = [c for c in recvs if t_quit is None or c[2] < t_quit]
    t_data_end = data[-1][2] + data[-1][3] if data else None
    syncs = [c for c in calls if c[1] == "fdatasync" and c[0] != main]
    renames = [c for c in calls if c[1] == "rename" and c[0] != main]
    syncer_busy = sum(c[3] for c in syncs) + sum(c[3] for c in renames)
    exit_t = max((c[2] for c in calls if c[1] == "exit_group"), default=calls[-1][2])
    out = ["timeline of one more fetch (strace -f -ttt -T, only network/sync syscalls traced; wall %.3f s "
           "including strace; ms from the first traced syscall):" % wall]
    if conn:
        out.append("  +%6.1f ms  TCP connect" % rel(conn[0][2]))
    if t_data_end is not None:
        done = sum(1 for c in syncs if c[2] + c[3] <= t_data_end)
        out.append("  +%6.1f ms  last message byte received (%d recvfrom); %d of %d messages fdatasynced by then"
                   % (rel(t_data_end), len(data), done, count))
    if syncs:
        last_sync = max(c[2] + c[3] for c in syncs)
        out.append("  +%6.1f ms  last fdatasync done" % rel(last_sync))
    if t_quit is not None:
        out.append("  +%6.1f ms  QUIT sent" % rel(t_quit))
    out.append("  +%6.1f ms  exit" % rel(exit_t))
    if syncs:
        span = max(c[2] + c[3] for c in syncs + renames) - min(c[2] for c in syncs)
        ds = sorted(c[3] for c in syncs)
        out.append("  syncer thread(s): %d fdatasync (median %.0f us, p90 %.0f us, sum %.0f ms) + %d rename "
                   "(sum %.0f ms); busy %.0f%% of its %.0f ms span" % (
                       len(syncs), 1e6 * ds[len(ds) // 2], 1e6 * ds[int(len(ds) * 0.9)], 1000 * sum(ds),
                       len(renames), 1000 * sum(c[3] for c in renames),
                       100 * syncer_busy / max(1e-9, span), 1000 * span))
    waits = [c for c in calls if c[0] == main and c[1] == "futex" and "FUTEX_WAIT" in c[5]]
    if waits:
        out.append("  network thread blocked in futex waits (full sync queue, or locks): %d waits, %.0f ms" % (
            len(waits), 1000 * sum(c[3] for c in waits)))
    return out


def perf_report(data, extra):
    r = subprocess.run(["perf", "report", "-i", data, "--stdio"] + extra,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return r.stdout


def perf_seconds(text):
    """cpu-clock samples are weighted in nanoseconds: the report's event count is CPU time."""
    m = re.search(r"# Event count \(approx\.\): (\d+)", text)
    if m and "cpu-clock" in text:
        return int(m.group(1)) / 1e9
    return None


# ---------------------------------------------------------------- report

def median(xs):
    return statistics.median(xs) if xs else None


def fmt(x, nd=3):
    return "-" if x is None else ("%.*f" % (nd, x))


def summarize(ctx, variants, timed):
    rows = {}
    for name in variants:
        rs = [r for r in timed if r["variant"] == name and r["ok"]]
        n_all = sum(1 for r in timed if r["variant"] == name)
        walls = [r["wall_s"] for r in rs]
        rows[name] = {
            "runs": "%d/%d" % (len(rs), n_all),
            "median": median(walls), "min": min(walls) if walls else None,
            "cpu": median([r["cpu_s"] for r in rs]),
            "user": median([r["user_s"] for r in rs]), "sys": median([r["sys_s"] for r in rs]),
            "server": median([r["server_cpu_s"] for r in rs if r["server_cpu_s"] is not None]),
            "others": median([r["other_cpu_share"] for r in rs if r["other_cpu_share"] is not None]),
        }
    base = rows.get("raw-save", {}).get("median")
    mib = ctx.bytes / MIB
    lines = ["| variant | runs ok | median wall s | min wall s | median CPU s (user+sys) | x raw-save (median) "
             "| MiB/s | server CPU s | other CPU share |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in variants:
        r = rows[name]
        ratio = (r["median"] / base) if (base and r["median"]) else None
        lines.append("| %s | %s | **%s** | %s | %s (%s+%s) | %s | %s | %s | %s |" % (
            name, r["runs"], fmt(r["median"]), fmt(r["min"]), fmt(r["cpu"]), fmt(r["user"]), fmt(r["sys"]),
            fmt(ratio, 2), "-" if not r["median"] else "%.0f" % (mib / r["median"]),
            fmt(r["server"]), "-" if r["others"] is None else "%.0f%%" % (100 * r["others"])))
    return rows, lines


def verdict(rows, a, b, limit):
    ma, mb = rows.get(a, {}).get("median"), rows.get(b, {}).get("median")
    if not ma or not mb:
        return None, "%s / %s = n/a (limit %.2f): NOT MEASURED" % (a, b, limit)
    ratio = ma / mb
    ok = ratio <= limit
    return ok, "%s / %s = %.2f (limit %.2f): %s" % (a, b, ratio, limit, "PASS" if ok else "FAIL")


def dovecot_sessions(server, since_offset, count):
    """Parse Dovecot's logout lines written since `since_offset`: sessions, full RETR sessions,
    total DELE (must stay 0: every variant keeps mail on the server)."""
    sessions = full = dele = 0
    try:
        with open(server.log_path, "rb") as f:
            f.seek(since_offset)
            text = f.read().decode(errors="replace")
    except OSError:
        return None
    for m in re.finditer(r"pop3\(%s\).*?retr=(\d+)/\d+, del=(\d+)/\d+" % USER, text):
        sessions += 1
        full += int(m.group(1)) == count
        dele += int(m.group(2))
    return sessions, full, dele


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description="letterbox fetch vs raw pipelined reader vs mpop, on Dovecot over loopback TLS")
    ap.add_argument("--rounds", type=int, default=7, help="timed rounds (default 7)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed warm-up rounds (default 1)")
    ap.add_argument("--profile", action="store_true", help="also profile one letterbox fetch with strace and perf")
    ap.add_argument("--no-build", action="store_true", help="skip cargo build --release --locked")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--total-mb", type=float, default=50)
    ap.add_argument("--mail-profile", default="mixed", choices=["mixed", "small", "large"],
                    help="make-mailbox.py --profile (default mixed)")
    ap.add_argument("--window", type=int, default=100, help="raw_reader.py RETR window (default 100)")
    ap.add_argument("--variants", help="comma-separated subset (default: all available)")
    ap.add_argument("--quiet-wait", type=float, default=3.0,
                    help="before each run wait up to this many seconds for the box to be idle (0: off)")
    ap.add_argument("--settle", type=float, default=70.0,
                    help="before the warm-up, wait until the last mass deletion of files by this harness "
                         "is this many seconds old (default 70; 0: off)")
    ap.add_argument("--no-sync", action="store_true",
                    help="do not call sync(2) before each run (by default dirty data of earlier runs, e.g. "
                         "raw-save's unsynced files, is written back before the next run starts)")
    ap.add_argument("--run-timeout", type=float, default=300.0)
    ap.add_argument("--limit-raw", type=float, default=1.30)
    ap.add_argument("--limit-mpop", type=float, default=1.00)
    ap.add_argument("--keep-runs", action="store_true", help="do not delete target/bench/runs at the end")
    args = ap.parse_args()

    os.makedirs(OUTROOT, exist_ok=True)
    shared = os.environ.get("SHARED_BENCH") or (DEFAULT_SHARED if os.path.isdir(DEFAULT_SHARED) else None)
    if shared and not (os.path.isfile(os.path.join(shared, "pop3raw.py")) and os.path.isfile(os.path.join(shared, "mpop.sh"))):
        log("fetch_bench: SHARED_BENCH=%s has no pop3raw.py / mpop.sh; reference variants skipped" % shared)
        shared = None

    meta = {"type": "meta", "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "load_start": loadavg(),
            "argv": sys.argv, "ncpu": NCPU, "python": sys.version.split()[0], "uname": " ".join(os.uname()),
            "shared_bench": shared}
    try:
        meta["git_head"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.strip()
        meta["git_dirty"] = [l for l in subprocess.run(["git", "status", "--porcelain", "--", "src", "Cargo.toml", "Cargo.lock"],
                                                        cwd=ROOT, text=True, stdout=subprocess.PIPE,
                                                        stderr=subprocess.DEVNULL).stdout.splitlines()]
    except OSError:
        pass
    log("load average before the build: %s" % meta["load_start"])

    if not args.no_build:
        log("cargo build --release --locked ...")
        p = subprocess.run(["cargo", "build", "--release", "--locked"], cwd=ROOT)
        if p.returncode != 0:
            die("cargo build failed", 2)
    if not os.access(LETTERBOX, os.X_OK):
        die("%s not found (build it, or drop --no-build)" % LETTERBOX)
    meta["letterbox_mtime"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(os.path.getmtime(LETTERBOX)))
    for tool, argv in (("mpop", ["mpop", "--version"]), ("dovecot", ["dovecot", "--version"])):
        try:
            meta[tool] = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                        env=dict(os.environ, PATH=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
                                        ).stdout.splitlines()[0]
        except (OSError, IndexError):
            meta[tool] = None

    if os.path.exists(RUNS):
        shutil.rmtree(RUNS)  # left over from an interrupted benchmark
        note_deletion()
    server = Server(os.path.join(OUTROOT, "dovecot"))
    results, failures = [], []
    profile_lines = []
    exit_code = 0

    def on_term(signum, frame):
        raise SystemExit(130)
    signal.signal(signal.SIGTERM, on_term)

    try:
        server.start()
        log("Dovecot: TLS port %s, CA %s (pid %s)" % (server.env["DOVECOT_TLS_PORT"], server.env["DOVECOT_CA_FILE"], server.master))
        home = os.path.join(server.env["DOVECOT_HOME_ROOT"], USER)
        uid, gid = int(server.env["DOVECOT_MAIL_UID"]), int(server.env["DOVECOT_MAIL_GID"])
        os.makedirs(home, exist_ok=True)
        if os.geteuid() == 0:
            os.chown(home, uid, gid)
        maildir = os.path.join(home, "Maildir")
        had_mail = os.path.isdir(os.path.join(maildir, "cur")) or os.path.isdir(os.path.join(maildir, "new"))
        gen = [sys.executable, os.path.join(ROOT, "tools", "make-mailbox.py"), "--maildir", maildir,
               "--count", str(args.count), "--seed", str(args.seed), "--total-mb", str(args.total_mb),
               "--profile", args.mail_profile, "--clean", "--chown", "%d:%d" % (uid, gid)]
        log(" ".join(gen[1:]))
        if subprocess.run(gen, cwd=ROOT).returncode != 0:
            die("make-mailbox.py failed")
        if had_mail:
            note_deletion()  # --clean deleted the previous mailbox
        with open(maildir + ".manifest.json") as f:
            manifest = json.load(f)
        meta["mailbox"] = {"count": manifest["count"], "bytes": manifest["total_bytes"],
                           "mib": round(manifest["total_bytes"] / MIB, 2), "seed": args.seed,
                           "profile": args.mail_profile}
        ctx = Ctx(args, server, manifest)
        try:
            log_offset = os.path.getsize(server.log_path)
        except OSError:
            log_offset = 0

        variants = make_variants(ctx, shared)
        if "mpop" not in variants:
            log("fetch_bench: mpop is not installed (apt-get install mpop): the mpop variant and verdict are skipped")
        if args.variants:
            want = [v.strip() for v in args.variants.split(",") if v.strip()]
            unknown = [v for v in want if v not in variants]
            if unknown:
                die("unknown or unavailable variants: %s (available: %s)" % (", ".join(unknown), ", ".join(variants)))
            variants = {k: variants[k] for k in want}
        names = list(variants)
        meta["variants"] = {k: variants[k]["desc"] for k in names}

        meta["settle_waited_s"] = round(settle(args.settle), 1)
        meta["load_before_build"] = meta["load_start"]
        meta["load_start"] = loadavg()
        log("load average at the start of the measurements: %s" % meta["load_start"])
        # warm-up: Dovecot index, page cache, then one untimed round of everything
        chk = subprocess.run([LETTERBOX, "check", "--url", "pop3s://%s@localhost:%s" % (USER, ctx.port),
                              "--ca-file", ctx.ca, "--preview-lines", "0", "--json"],
                             env=dict(os.environ, LETTERBOX_PASSWORD=ctx.password), cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if chk.returncode != 0:
            log(chk.stderr.decode(errors="replace"))
            die("warm-up `letterbox check` failed (exit %d)" % chk.returncode, 1)
        log("warm-up: letterbox check ok; %d untimed round(s)" % args.warmup)
        for w in range(args.warmup):
            for name in names:
                run_variant(ctx, name, variants[name], os.path.join(RUNS, "w%d-%s" % (w, name)), "warmup", w,
                            results, failures)
        log("timed: %d rounds of %s (order rotated each round)" % (args.rounds, ", ".join(names)))
        for rnd in range(args.rounds):
            k = rnd % len(names)
            for name in names[k:] + names[:k]:
                run_variant(ctx, name, variants[name], os.path.join(RUNS, "r%d-%s" % (rnd, name)), "timed", rnd,
                            results, failures)

        timed = [r for r in results if r["phase"] == "timed"]
        rows, table = summarize(ctx, names, timed)

        if args.profile:
            log("profiling one more letterbox fetch (strace, perf) ...")
            lb = rows.get("letterbox", {})
            profile_lines.append("letterbox in the timed rounds: median wall %s s, client CPU %s s (user %s + sys %s), "
                                 "Dovecot CPU %s s; raw-save: wall %s s, CPU %s s" % (
                                     fmt(lb.get("median")), fmt(lb.get("cpu")), fmt(lb.get("user")), fmt(lb.get("sys")),
                                     fmt(lb.get("server")), fmt(rows.get("raw-save", {}).get("median")),
                                     fmt(rows.get("raw-save", {}).get("cpu"))))
            profile(ctx, profile_lines)

        sess = dovecot_sessions(server, log_offset, ctx.count)
        meta["load_end"] = loadavg()

        ok_raw, v_raw = verdict(rows, "letterbox", "raw-save", args.limit_raw)
        ok_mpop, v_mpop = verdict(rows, "letterbox", "mpop", args.limit_mpop)
        hdr = ["# letterbox fetch benchmark (%s)" % meta["started"], "",
               "mailbox: %d messages, %.2f MiB (make-mailbox.py --count %d --seed %d --total-mb %g --profile %s); "
               "Dovecot on 127.0.0.1, implicit TLS; %d timed rounds + %d warm-up, order rotated each round; "
               "letterbox %s (git %s%s)" % (
                   ctx.count, ctx.bytes / MIB, args.count, args.seed, args.total_mb, args.mail_profile,
                   args.rounds, args.warmup, LETTERBOX, meta.get("git_head", "?"),
                   ", uncommitted changes in src/" if meta.get("git_dirty") else ""),
               "load average (1/5/15 min): before the build %s; start of measurements %s; end %s; %d CPUs" % (
                   meta.get("load_before_build", "-"), meta["load_start"], meta["load_end"], NCPU), ""]
        foot = ["", v_raw, v_mpop]
        if sess:
            foot.append("Dovecot log: %d sessions of user %s (incl. warm-up check and profiling), %d retrieved all "
                        "%d messages, DELE total %d%s" % (
                sess[0], USER, sess[1], ctx.count, sess[2], "" if sess[2] == 0 else "  !! mail was deleted on the server"))
        if failures:
            foot.append("FAILED RUNS: %d (see results.jsonl)" % len(failures))
        notes = ["", "Columns: wall = perf_counter around the client process (incl. its start-up); CPU = user+sys of "
                 "the client's process tree (RUSAGE_CHILDREN); MiB/s = mailbox bytes / median wall; server CPU = "
                 "Dovecot's pop3 + pop3-login processes for that session; other CPU share = machine busy time "
                 "not explained by client or server, as a share of wall x CPUs: kernel writeback threads "
                 "(clients that do not fsync leave that work to them) and other tenants of the box."]
        text = "\n".join(hdr + table + foot + notes) + "\n"
        if profile_lines:
            text += "\n## Where the time goes (letterbox fetch, --profile)\n\n```\n" + "\n".join(profile_lines) + "\n```\n"
        print(text, flush=True)
        with open(os.path.join(OUTROOT, "table.md"), "w") as f:
            f.write(text)
        with open(os.path.join(OUTROOT, "results.jsonl"), "w") as f:
            f.write(json.dumps(meta) + "\n")
            for r in results:
                f.write(json.dumps(r) + "\n")
            f.write(json.dumps({"type": "summary", "rows": rows, "verdict_raw": v_raw, "verdict_mpop": v_mpop,
                                "dovecot_sessions": sess, "profile": profile_lines}) + "\n")
        log("wrote %s and %s" % (os.path.join(OUTROOT, "table.md"), os.path.join(OUTROOT, "results.jsonl")))

        if ok_raw is False or ok_mpop is False or failures or (sess and sess[2]):
            exit_code = 1
        elif ok_raw is None or ok_mpop is None:
            exit_code = 2
    finally:
        if not args.keep_runs and os.path.exists(RUNS):
            shutil.rmtree(RUNS, ignore_errors=True)
            note_deletion()
        server.stop()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
