#!/usr/bin/env bash
# Soak: continuous output for DURATION seconds (default 600) while OpenSSH guests join and
# leave every few seconds; prints npair's RSS after the first minute and at the end, and
# fails if the end is more than 10% above the first minute.
#
#   cargo build --release && benches/scripts/soak.sh [DURATION] [path/to/npair]
set -euo pipefail
duration=${1:-600}
npair=${2:-target/release/npair}
[ -x "$npair" ] || { echo "soak: $npair not found; run cargo build --release first" >&2; exit 2; }
dir=$(mktemp -d)
export TMUX_TMPDIR=$dir XDG_CONFIG_HOME=$dir/config TERM=xterm-256color LANG=C.UTF-8
unset TMUX TMUX_PANE
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "${np:-}" ] && kill "$np" 2>/dev/null || true
  tmux -f /dev/null kill-server 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

tmux -f /dev/null new-session -d -s soak -x 120 -y 40 "while :; do seq 1 300; ls -l /usr/bin | head -50; sleep 0.05; done"
"$npair" share soak --headless --json --listen 127.0.0.1:0 --no-web --host-key "$dir/key" \
  >"$dir/out" 2>"$dir/err" &
np=$!
for _ in $(seq 100); do [ -s "$dir/out" ] && break; sleep 0.1; done
port=$(sed -n 's/.*"ssh_port":\([0-9]*\).*/\1/p' "$dir/out")
rw=$(sed -n 's/.*"rw_token":"\([^"]*\)".*/\1/p' "$dir/out")
ro=$(sed -n 's/.*"ro_token":"\([^"]*\)".*/\1/p' "$dir/out")
[ -n "$port" ] || { echo "soak: npair printed no JSON: $(cat "$dir/err")" >&2; exit 1; }
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$np/status"; }
ssh_opts=(-F /dev/null -p "$port" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
          -o LogLevel=ERROR -o BatchMode=yes)

start=$(date +%s); first=; joins=0
while :; do
  now=$(( $(date +%s) - start ))
  [ "$now" -ge "$duration" ] && break
  if [ -z "$first" ] && [ "$now" -ge 60 ]; then first=$(rss); echo "soak: RSS after minute 1: $first KiB"; fi
  # A guest joins for 2-8 s (script(1) gives it a terminal); a third are read-write.
  tok=$ro; [ $((joins % 3)) -eq 0 ] && tok=$rw
  life=$(( 2 + RANDOM % 7 ))
  timeout "$life" script -qec "ssh -tt ${ssh_opts[*]} $tok@127.0.0.1" /dev/null >/dev/null 2>&1 &
  pids+=($!); joins=$((joins + 1))
  sleep $(( 1 + RANDOM % 3 ))
  kill -0 "$np" 2>/dev/null || { echo "soak: npair died: $(cat "$dir/err")" >&2; exit 1; }
done
wait "${pids[@]}" 2>/dev/null || true
sleep 2
end=$(rss)
first=${first:-$end}
echo "soak: $joins guests joined and left over ${duration}s; RSS after minute 1: $first KiB, at the end: $end KiB"
if [ "$end" -gt $(( first * 110 / 100 )) ]; then
  echo "soak: RSS grew more than 10%" >&2; exit 1
fi
