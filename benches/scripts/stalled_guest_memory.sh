#!/usr/bin/env bash
# Memory of npair while a read-only guest is stalled (SIGSTOP) during heavy output.
# usage: benches/scripts/stalled_guest_memory.sh [stall|nostall]
set -u
MODE=${1:-stall}
T=$(mktemp -d); export TMUX_TMPDIR=$T; unset TMUX
BIN="$(cd "$(dirname "$0")/../.." && pwd)/target/release/npair"  # cargo build --release first
tmux -f /dev/null new-session -d -s fun -x 120 -y 40 "env PS1='$ ' sh"
$BIN share fun --headless --json --listen 127.0.0.1:0 --no-web --host-key $T/k --size 120x40 > $T/out 2>$T/err &
NP=$!
sleep 1
PORT=$(python3 -c "import json;print(json.load(open('$T/out'))['ssh_port'])"); RO=$(python3 -c "import json;print(json.load(open('$T/out'))['ro_token'])")
SSH="ssh -F /dev/null -tt -p $PORT -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR $RO@127.0.0.1"
tmux -L g$$ -f /dev/null new-session -d -s a -x 120 -y 40 "$SSH"
tmux -L g$$ new-session -d -s b -x 120 -y 40 "$SSH"
sleep 1.5
STALLED=$(pgrep -f "^ssh -F /dev/null -tt -p $PORT" | head -1)
rss() { grep -E "VmRSS|VmHWM" /proc/$NP/status | tr -s ' ' | tr '\n' ' '; }
echo "idle:     $(rss)"
[ "$MODE" = stall ] && kill -STOP $STALLED
tmux send-keys -t fun "seq 1 3000000; echo END-MARK" Enter
for i in $(seq 1 600); do tmux -L g$$ capture-pane -p -t b | grep -q END-MARK && break; sleep 0.1; done
echo "after:    $(rss)  (mode=$MODE)"
[ "$MODE" = stall ] && kill -CONT $STALLED
for i in $(seq 1 300); do tmux -L g$$ capture-pane -p -t a | grep -q END-MARK && break; sleep 0.1; done
tmux -L g$$ capture-pane -p -t a | grep -q END-MARK && echo "stalled guest caught up: yes" || echo "stalled guest caught up: NO"
echo "end:      $(rss)"
kill $NP; wait $NP 2>/dev/null; tmux -L g$$ kill-server; tmux kill-server; rm -rf $T
