#!/usr/bin/env python3
"""npair's start-up time: from exec to the banner (the --json line), median of 20 runs.
usage: cargo build --release && benches/scripts/startup_time.py"""
import os, statistics, subprocess, sys, tempfile, time

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
binary = os.path.join(root, "target", "release", "npair")
with tempfile.TemporaryDirectory() as tmp:
    env = dict(os.environ, TMUX_TMPDIR=tmp)
    env.pop("TMUX", None)
    subprocess.run(["tmux", "-f", "/dev/null", "new-session", "-d", "-s", "s"], env=env, check=True)
    times = []
    try:
        for _ in range(20):
            t0 = time.perf_counter()
            p = subprocess.Popen([binary, "share", "s", "--headless", "--json", "--listen", "127.0.0.1:0",
                                  "--no-web", "--host-key", os.path.join(tmp, "key")],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
            p.stdout.readline()
            times.append((time.perf_counter() - t0) * 1000)
            p.terminate()
            p.wait()
    finally:
        subprocess.run(["tmux", "kill-server"], env=env)
    times.sort()
    size = os.path.getsize(binary)
    print(f"binary: {size / 1048576:.1f} MiB ({size} bytes)")
    print(f"start-up to banner, 20 runs: median {statistics.median(times):.1f} ms, min {times[0]:.1f}, max {times[-1]:.1f}")
