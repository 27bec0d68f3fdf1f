#!/usr/bin/env python3
"""Reading downloaded mail, measured in the real app (Python 3 standard library only).

    python3 bench/reader_bench.py [--count 10000] [--total-mb 50] [--no-build]

1. Runs `cargo bench --bench reader` (index from scratch, search, opening a 3 MB
   message, the Downloaded view from App::new to its first rows) and prints its table.
2. Makes a profile of its own: settings with one account "Bench" and, in that account's
   store, a Maildir of COUNT messages from tools/make-mailbox.py (seed 1, mixed), then
   builds its index with `letterbox index --account bench`.
3. Starts the real `letterbox` (release build) on that profile under Xvfb (Mesa's
   software OpenGL), clicks "Downloaded" in the sidebar, and measures: the time from the
   click to the app's own log line "downloaded list shown", and the process's memory
   (VmRSS, VmHWM from /proc) with that view open. A screenshot is kept in
   target/bench/reader-downloaded.png.

Needs: python3, Xvfb, xdotool, imagemagick (import), cargo. Nothing outside
target/bench/ is written; the profile lives in a temporary folder.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "target", "bench")


def status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def free_display():
    for n in range(120, 200):
        if not os.path.exists(f"/tmp/.X11-unix/X{n}") and not os.path.exists(f"/tmp/.X{n}-lock"):
            return f":{n}"
    sys.exit("no free X display number")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--total-mb", type=float, default=50)
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--skip-cargo-bench", action="store_true")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    for tool in ["Xvfb", "xdotool", "import", "python3"]:
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is needed")

    if not args.skip_cargo_bench:
        print("== cargo bench --bench reader", flush=True)
        subprocess.run(["cargo", "bench", "--bench", "reader"], cwd=ROOT, check=True)
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--locked"], cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", "release", "letterbox")

    home = tempfile.mkdtemp(prefix="letterbox-reader-bench-")
    try:
        run(args, binary, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def run(args, binary, home):
    config = os.path.join(home, "config")
    data = os.path.join(home, "data")
    os.makedirs(os.path.join(config, "letterbox"))
    with open(os.path.join(config, "letterbox", "settings.toml"), "w") as f:
        f.write('[[accounts]]\nid = "bench"\nname = "Bench"\nhost = "127.0.0.1"\nport = 9\nusername = "bench"\n')
    maildir = os.path.join(data, "letterbox", "accounts", "bench", "Maildir")
    subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "make-mailbox.py"), "--maildir", maildir,
         "--count", str(args.count), "--seed", "1", "--total-mb", str(args.total_mb), "--profile", "mixed"],
        check=True, stdout=subprocess.DEVNULL)
    env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=config, XDG_DATA_HOME=data)
    env.pop("LETTERBOX_CONFIG_DIR", None)
    started = time.perf_counter()
    indexed = subprocess.run([binary, "index", "--account", "bench", "--json"], env=env,
                             check=True, capture_output=True, text=True)
    print(f"letterbox index --account bench: {indexed.stdout.strip()} "
          f"(wall {time.perf_counter() - started:.2f} s including the process)")

    display = free_display()
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    app = None
    try:
        deadline = time.time() + 20
        while not os.path.exists(f"/tmp/.X11-unix/X{display[1:]}"):
            if time.time() > deadline:
                sys.exit("Xvfb did not start")
            time.sleep(0.05)
        log_path = os.path.join(home, "app.log")
        log = open(log_path, "w")
        app_env = dict(env, DISPLAY=display, LIBGL_ALWAYS_SOFTWARE="1", LETTERBOX_LOG="letterbox=debug")
        app_env.pop("WAYLAND_DISPLAY", None)
        spawned = time.perf_counter()
        app = subprocess.Popen([binary], env=app_env, stdout=subprocess.DEVNULL, stderr=log)
        window = None
        deadline = time.time() + 60
        while window is None:
            found = subprocess.run(["xdotool", "search", "--name", "Letterbox"], env=app_env,
                                   capture_output=True, text=True).stdout.split()
            if found:
                window = found[0]
            elif time.time() > deadline:
                sys.exit("no window")
            else:
                time.sleep(0.05)
        window_s = time.perf_counter() - spawned
        time.sleep(3)
        server_rss = status_kb(app.pid, "VmRSS")
        # "Downloaded" sits under the account's name in the sidebar; its exact
        # height depends on the fonts, so try a few rows until the app says so.
        shown = None
        for y in range(140, 240, 8):
            clicked = time.perf_counter()
            subprocess.run(["xdotool", "mousemove", "--window", window, "90", str(y), "click", "1"], env=app_env)
            until = time.time() + 5
            while time.time() < until:
                with open(log_path) as f:
                    text = re.sub(r"\x1b\[[0-9;]*m", "", f.read())
                m = re.search(r"downloaded list shown rows=(\d+) ms=(\d+)", text)
                if m:
                    shown = (int(m.group(1)), int(m.group(2)), (time.perf_counter() - clicked) * 1000)
                    break
                time.sleep(0.01)
            if shown:
                break
        if not shown:
            sys.exit("the Downloaded view never showed its list (see the log: " + log_path + ")")
        time.sleep(3)
        # Scroll through the list a little, as a user would.
        for _ in range(10):
            subprocess.run(["xdotool", "mousemove", "--window", window, "600", "300", "click", "5"], env=app_env)
        time.sleep(1)
        rss = status_kb(app.pid, "VmRSS")
        hwm = status_kb(app.pid, "VmHWM")
        shot = os.path.join(OUT, "reader-downloaded.png")
        subprocess.run(["import", "-window", "root", shot], env=app_env)
        print()
        print(f"| real app ({args.count} messages, release build, Xvfb + llvmpipe) | value | limit |")
        print("|---|---|---|")
        print(f"| window up after start | {window_s * 1000:.0f} ms | |")
        print(f"| click on Downloaded to its {shown[0]} rows loaded (app's own log) | {shown[1]} ms | |")
        print(f"| click on Downloaded to the log line, seen from outside | {shown[2]:.0f} ms | < 300 ms |")
        print(f"| memory, server view before (VmRSS) | {server_rss / 1024:.0f} MiB | |")
        print(f"| memory with the Downloaded view open (VmRSS) | {rss / 1024:.0f} MiB | < 150 MB |")
        print(f"| peak memory (VmHWM) | {hwm / 1024:.0f} MiB | |")
        print(f"screenshot: {shot}")
    finally:
        if app is not None:
            app.send_signal(signal.SIGTERM)
            try:
                app.wait(timeout=5)
            except subprocess.TimeoutExpired:
                app.kill()
        xvfb.terminate()
        xvfb.wait()


if __name__ == "__main__":
    main()
