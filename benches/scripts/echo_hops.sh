#!/usr/bin/env bash
# Where a guest's keystroke echo spends its time inside npair: runs a headless share, one OpenSSH
# guest in a private tmux pane, types a few keys with gaps, and traces npair's threads with
# strace. For each keystroke it prints which thread read the guest's packet, which wrote it to
# the pty, which read the echo from the pty and which sent it back, with the time between.
# (strace slows every system call, so the times are inflated; the hand-offs are what it shows.)
#
#   cargo build --release && benches/scripts/echo_hops.sh [path/to/npair]
set -euo pipefail
npair=${1:-target/release/npair}
command -v strace >/dev/null || { echo "echo_hops: needs strace (apt-get install strace)" >&2; exit 2; }
dir=$(mktemp -d)
export TMUX_TMPDIR=$dir XDG_CONFIG_HOME=$dir/config TERM=xterm-256color LANG=C.UTF-8
unset TMUX TMUX_PANE
cleanup() {
  [ -n "${np:-}" ] && kill "$np" 2>/dev/null || true
  tmux -f /dev/null kill-server 2>/dev/null || true
  tmux -L guest -f /dev/null kill-server 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
tmux -f /dev/null new-session -d -s hops -x 80 -y 24 "env PS1='$ ' sh"
"$npair" share hops --headless --json --listen 127.0.0.1:0 --no-web --host-key "$dir/key" >"$dir/out" 2>/dev/null &
np=$!
for _ in $(seq 100); do [ -s "$dir/out" ] && break; sleep 0.1; done
port=$(sed -n 's/.*"ssh_port":\([0-9]*\).*/\1/p' "$dir/out")
rw=$(sed -n 's/.*"rw_token":"\([^"]*\)".*/\1/p' "$dir/out")
tmux -L guest -f /dev/null new-session -d -s g -x 80 -y 24 \
  "ssh -F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -tt -p $port $rw@127.0.0.1"
sleep 2
strace -f -ttt -e trace=read,write,recvfrom,sendto,writev -p "$np" -o "$dir/trace" 2>/dev/null &
st=$!
sleep 1
for _ in 1 2 3 4 5; do tmux -L guest send-keys -t g x; sleep 0.3; done
sleep 0.5
kill "$st"; wait "$st" 2>/dev/null || true
# thread names, to label the lines
declare -A name
for t in /proc/$np/task/*; do name[$(basename "$t")]=$(cat "$t/comm"); done
python3 - "$dir/trace" <<'PY' "${!name[@]}" -- "${name[@]}"
import sys, re
path = sys.argv[1]
args = sys.argv[2:]
sep = args.index("--")
names = dict(zip(args[:sep], args[sep + 1:]))
events = []
for line in open(path):
    m = re.match(r"(\d+)\s+(\d+\.\d+)\s+(\w+)\((\d+),", line)
    if not m or "resumed" in line or "EAGAIN" in line:
        continue
    tid, t, call, fd = m.group(1), float(m.group(2)), m.group(3), int(m.group(4))
    events.append((t, names.get(tid, tid), call, fd))
# One keystroke. In: the socket read on a runtime thread, then the pty write on the writer
# thread. Out: the pty read on the reader thread, then the socket send on a runtime thread.
for i, (t, who, call, fd) in enumerate(events):
    nxt = events[i + 1] if i + 1 < len(events) else None
    if call == "recvfrom" and nxt and nxt[2] == "recvfrom":
        continue  # the packet's length; its body follows
    if call == "recvfrom":
        w = [e for e in events[i + 1:] if e[2] == "write" and e[1] == "pty-writer" and e[0] - t < 0.05]
        if w:
            print(f"in : recvfrom on {who:<16} -> write(pty) on {w[0][1]:<16} {1e6 * (w[0][0] - t):7.0f} µs")
    if call == "read" and who == "pty-reader":
        o = [e for e in events[i + 1:] if e[2] == "sendto" and e[0] - t < 0.05]
        if o:
            print(f"out: read(pty) on {who:<16} -> sendto on {o[0][1]:<16} {1e6 * (o[0][0] - t):7.0f} µs")
PY
