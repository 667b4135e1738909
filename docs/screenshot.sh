#!/usr/bin/env bash
# Makes docs/viewer.png: the web viewer in Chromium (left) beside the same session in xterm,
# joined over ssh as a guest (right), on a virtual X display.
# Needs: apt-get install xvfb xterm imagemagick chromium tmux openssh-client; cargo build --release
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/target/release/npair
OUT=$PWD/docs/viewer.png
T=$(mktemp -d)
export TMUX_TMPDIR=$T; unset TMUX
cleanup() { kill $(jobs -p) 2>/dev/null || true; tmux kill-server 2>/dev/null || true; rm -rf "$T" 2>/dev/null || true; }
trap cleanup EXIT

tmux -f /dev/null new-session -d -s demo -x 100 -y 30 "env PS1='$ ' TERM=tmux-256color bash --norc --noprofile"
tmux set -g status-style 'bg=colour24,fg=colour255'
"$BIN" share demo --headless --json --size 100x30 --listen 127.0.0.1:0 --web 127.0.0.1:0 --host-key "$T/key" > "$T/info" 2> "$T/log" &
for _ in $(seq 50); do [ -s "$T/info" ] && break; sleep 0.1; done
field() { python3 -c "import json,sys; print(json.load(open('$T/info'))['$1'])"; }
URL=$(field web_url); PORT=$(field ssh_port); TOKEN=$(field ro_token)
tmux send-keys -t demo "vim -u NONE -N -c 'syntax on' -c 'set number' src/hub/mod.rs +40" Enter
sleep 1

Xvfb :77 -screen 0 1880x560x24 -nolisten tcp & sleep 1
export DISPLAY=:77
xterm -geometry 100x31+1000+0 -fa "DejaVu Sans Mono" -fs 10 -bg '#111111' -fg '#d0d0d0' \
  -title 'ssh guest' -e ssh -p "$PORT" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "$TOKEN@127.0.0.1" &
chromium --no-sandbox --disable-gpu --no-first-run --disable-background-networking --disable-component-update \
  --disable-sync --test-type --user-data-dir="$T/profile" --window-position=0,0 --window-size=1000,560 --app="$URL" >/dev/null 2>&1 &
sleep 5
import -window root "$OUT"
echo "wrote $OUT"
