#!/usr/bin/env bash
# Where a start's time goes, one start against CONC at once (issue 9: "network set-up must
# not serialize container starts behind one lock"). Run as root:
#
#   bash benches/e2e/start-phases.sh            # bridge and --network none, 1 and 8 at once
#
# For each network mode (the default bridge, --network none) and each concurrency (1, CONC)
# it starts a berthd of its own (own roots, bridge berth-phase0, nft table berth_phase, under
# a scratch directory) with --log-level debug, runs ROUNDS rounds of K `run --rm busybox
# true` at once (three warm-ups first), prints the wall time of a round (median, and the
# ratio of CONC at once to one), then the median wall time (busy + idle) of each span a start
# closes (see README "How a container runs": start › network › netns, endpoint › ipam,
# record, veth › container_side, host_side; start › spawn is the supervisor's; remove,
# network_teardown at the exit). A phase whose median grows about CONC-fold with CONC
# starts at once is where they queue. Debug logging costs a little; the figures compare
# the runs of this script, not those of run.sh.
#
# Environment: BERTH_BIN_DIR (berth, berthd, berth-supervisor; default target/release),
# CONC=8, ROUNDS=10 (rounds of CONC; one-at-a-time gets 2×ROUNDS), E2E_TMP (/tmp). Needs
# python3 and busybox-static. Leaves nothing behind: each daemon's containers are removed,
# it is stopped, its bridge, nft table and scratch directory go.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source=firewall.sh
source "$HERE/firewall.sh"
BIN=${BERTH_BIN_DIR:-${CARGO_TARGET_DIR:-$REPO/target}/release}
CONC=${CONC:-8}
ROUNDS=${ROUNDS:-10}
BRIDGE=berth-phase0
TABLE=berth_phase
for b in berth berthd berth-supervisor; do
  [ -x "$BIN/$b" ] || { echo "start-phases.sh: no $BIN/$b; build: cargo build --release --bins" >&2; exit 1; }
done

T=$(mktemp -d "${E2E_TMP:-/tmp}/berth-phases.XXXXXX")
PID=""
stop_daemon() {
  [ -n "$PID" ] || return 0
  local ids i
  ids=$("$BIN/berth" -H "unix://$T/d/berth.sock" ps -aq 2>/dev/null || true)
  # shellcheck disable=SC2086
  [ -z "$ids" ] || "$BIN/berth" -H "unix://$T/d/berth.sock" rm -f $ids >/dev/null 2>&1 || true
  kill "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  PID=""
  # the supervisor leaves on its own once it has no containers
  for i in $(seq 100); do pgrep -f "berth-supervisor --exec-root $T/d/exec" >/dev/null || break; sleep 0.1; done
  ip link show "$BRIDGE" >/dev/null 2>&1 && ip link delete "$BRIDGE"
  nft delete table inet "$TABLE" 2>/dev/null || nft delete table ip "$TABLE" 2>/dev/null || true
  forget_forward_rule "$TABLE"
}
cleanup() { stop_daemon; rm -rf "$T"; }
trap cleanup EXIT

bash "$REPO/scripts/make-busybox-rootfs.sh" "$T/busybox.tar" >/dev/null

# one_case NAME K NETWORK-ARGS... : K at once, ROUNDS rounds; walls to $T/NAME.walls, log to $T/NAME.log
one_case() {
  local name=$1 k=$2 rounds=$ROUNDS i r s pids
  shift 2
  [ "$k" = 1 ] && rounds=$((ROUNDS * 2))
  rm -rf "$T/d"; mkdir -p "$T/d"
  (ulimit -n "$(ulimit -Hn)"; exec setsid "$BIN/berthd" --data-root "$T/d/data" --exec-root "$T/d/exec" \
    -H "unix://$T/d/berth.sock" --log-level debug --bridge "$BRIDGE" --firewall-table "$TABLE") \
    >"$T/$name.log" 2>&1 </dev/null &
  PID=$!
  local b=("$BIN/berth" -H "unix://$T/d/berth.sock")
  for i in $(seq 100); do "${b[@]}" version >/dev/null 2>&1 && break; sleep 0.1; done
  "${b[@]}" import --change 'CMD ["/bin/sh"]' "$T/busybox.tar" busybox:latest >/dev/null
  for i in 1 2 3; do "${b[@]}" run --rm "$@" busybox true; done
  : >"$T/$name.walls"
  for r in $(seq "$rounds"); do
    s=$EPOCHREALTIME pids=()
    for i in $(seq "$k"); do "${b[@]}" run --rm "$@" busybox true & pids+=($!); done
    for i in "${pids[@]}"; do wait "$i" || { echo "a run --rm failed ($name)" >&2; exit 1; }; done
    awk -v s="$s" -v e="$EPOCHREALTIME" 'BEGIN{printf "%.1f\n", (e-s)*1000}' >>"$T/$name.walls"
  done
  stop_daemon
}

median() { sort -n "$1" | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }

echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
one_case bridge1 1
one_case "bridge$CONC" "$CONC"
one_case none1 1 --network none
one_case "none$CONC" "$CONC" --network none
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| mode | 1 start, ms | $CONC at once, ms | ratio |"
echo "|---|---|---|---|"
for mode in bridge none; do
  one=$(median "$T/${mode}1.walls") many=$(median "$T/$mode$CONC.walls")
  echo "| $mode | $one | $many | $(awk -v a="$many" -v b="$one" 'BEGIN{printf "%.2f", a/b}') |"
done
echo
python3 - "$CONC" "$T/bridge1.log" "$T/bridge$CONC.log" "$T/none1.log" "$T/none$CONC.log" <<'EOF'
import re, statistics, sys
conc, logs = sys.argv[1], sys.argv[2:]
ansi = re.compile(r'\x1b\[[0-9;]*m')
close = re.compile(r' DEBUG (.+?): \S+: close time\.busy=(\S+) time\.idle=(\S+)')
scale = {'ns': 1e-6, 'µs': 1e-3, 'ms': 1.0, 's': 1000.0}
def ms(v):
    n, u = re.match(r'([0-9.]+)(ns|µs|ms|s)$', v).groups()
    return float(n) * scale[u]
tables = []
for log in logs:
    walls = {}
    for line in open(log, errors='replace'):
        m = close.search(ansi.sub('', line))
        if m and not m.group(1).startswith('request'):
            path = re.sub(r'\{[^}]*\}', '', m.group(1)).replace(':', ' › ')
            walls.setdefault(path, []).append(ms(m.group(2)) + ms(m.group(3)))
    tables.append(walls)
paths = sorted(set().union(*tables))
print(f"| span (median wall, ms) | bridge, 1 | bridge, {conc} at once | none, 1 | none, {conc} at once |")
print("|---|---|---|---|---|")
for p in paths:
    cells = [f"{statistics.median(t[p]):.2f}" if p in t else "–" for t in tables]
    print(f"| {p} | " + " | ".join(cells) + " |")
EOF
