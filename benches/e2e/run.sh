#!/usr/bin/env bash
# End-to-end comparison of berth with Docker and Podman on this machine (issue 5, sections 2
# and 3). Run as root from anywhere:
#
#   bash benches/e2e/run.sh                  # the full run: berth, Docker, Podman (~20 min)
#   bash benches/e2e/run.sh --quick --berth-only --no-append   # seconds; what CI tests use
#
# It installs what is missing (Debian's docker.io, podman, crun, docker-registry, hyperfine,
# jq, busybox-static), builds the images locally (busybox from busybox-static; a "big" image
# of BIG_MB MiB of /usr/lib files), starts berthd, dockerd and, for the registry figures,
# a docker-registry on 127.0.0.1:5000, each on its own roots and socket under one scratch
# directory, and stops each by the PID it recorded. The engines are measured in rounds,
# alternating (the first engine rotates each round), so that the machine's noise falls on
# all of them alike. Then the density run: DENSITY idle `busybox sleep` containers under
# berth, DOCKER_DENSITY under Docker. Every container without --network is on the engine's
# default bridge (berthd runs with a bridge and an nft table of the run's own). The
# networking figures (benches/e2e/network.sh, sourced below: concurrent starts, throughput
# and request rate through a published port against the container's own address, the cost
# of a published port, NET_DENSITY containers each pinged from the host and a peer) come
# after the first two groups; then the volume and healthcheck figures (benches/e2e/services.sh:
# 100 creates with a new volume each against 100 without, and the engine's CPU while 1,000
# containers run a healthcheck every second).
#
# Output: a markdown table of median (min–max) per engine and the ratio berth/peer, on
# stdout; it is also appended, with the machine and versions, to benches/RESULTS.md unless
# --no-append. A figure berth cannot produce yet reads "n/a (berth: not supported yet)": the
# harness tries the command once and reads the CLI's refusal, it never assumes.
#
# Options: --quick (1 round, few runs, small images, density 20), --berth-only, --no-append,
# --no-density, --keep-going (a failed figure is reported as "failed" instead of stopping),
# --net-only (the start figures, `ps` and the networking ones: no logs, images, registry or
# the sleep-only density run), --no-network (no networking figures), --svc-only (only the
# volume and healthcheck figures), --no-services (none of them).
# Environment (defaults for the full run): ROUNDS=3 RUNS=10 N=50 BIG_MB=400 LOG_MB=100
# DENSITY=1000 DOCKER_DENSITY=100 IDLE_CPU_SECONDS=10 SETTLE=3 (seconds to let memory settle
# before and after starting containers), NET_CONC=8 NET_SECS=5 NET_REQS=5000 NET_CONC_REQ=8
# NET_PORTS=200 NET_DENSITY=2000 NET_PS=1000 (see network.sh), SVC_N=100 HEALTH_N=1000
# HEALTH_DOCKER_N=100 HEALTH_SECONDS=20 (see services.sh), BERTH_BIN_DIR (berth, berthd and berth-supervisor;
# default: $CARGO_TARGET_DIR/release, else target/release), E2E_TMP (scratch parent, /tmp).
#
# Host tweaks for Podman, from ../shared/peers (see 05_host_setup.sh and common.sh there):
# without CAP_SYS_RESOURCE, podman's default rlimits cannot be set, so CONTAINERS_CONF points
# at a containers.conf whose default_ulimits fit the hard limits; and crun refuses a hybrid
# host whose cgroup2 tree still holds hugetlb, so hugetlb is mounted as a v1 hierarchy for the
# run. That mount is left in place afterwards, as ../shared/peers leaves it: any cgroup v1 user
# started meanwhile (a berthd, dockerd) has seen the hierarchy and creates cgroups in it, and
# unmounting it would leave them pointing at a path that is gone.
#
# Outside the scratch directory, the peers themselves leave what they create on first use and
# share with any other user of them: /run/docker/plugins, /run/containers/networks,
# /etc/containers/networks, /var/lib/containers/cache and /dev/shm/libpod_lock (podman's lock
# table). The harness leaves those alone; it removes the bridges (docker0, podman0) and puts
# back the iptables rules and ip_forward setting that dockerd and netavark changed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

QUICK=0 BERTH_ONLY=0 APPEND=1 DO_DENSITY=1 KEEP_GOING=0 NET_ONLY=0 DO_NETWORK=1 SVC_ONLY=0 DO_SERVICES=1
for arg in "$@"; do
  case $arg in
    --quick) QUICK=1 ;;
    --berth-only) BERTH_ONLY=1 ;;
    --no-append) APPEND=0 ;;
    --no-density) DO_DENSITY=0 ;;
    --keep-going) KEEP_GOING=1 ;;
    --net-only) NET_ONLY=1 ;;
    --no-network) DO_NETWORK=0 ;;
    --svc-only) SVC_ONLY=1 DO_NETWORK=0 ;;
    --no-services) DO_SERVICES=0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done

if [ "$QUICK" = 1 ]; then
  : "${ROUNDS:=1}" "${RUNS:=3}" "${N:=5}" "${BIG_MB:=4}" "${LOG_MB:=1}" "${DENSITY:=10}"
  : "${DOCKER_DENSITY:=10}" "${IDLE_CPU_SECONDS:=1}" "${SETTLE:=0.5}"
  : "${NET_CONC:=4}" "${NET_SECS:=1}" "${NET_REQS:=200}" "${NET_CONC_REQ:=4}" "${NET_PORTS:=10}"
  : "${NET_DENSITY:=20}" "${NET_PS:=10}"
  : "${SVC_N:=5}" "${HEALTH_N:=5}" "${HEALTH_DOCKER_N:=5}" "${HEALTH_SECONDS:=2}"
else
  : "${ROUNDS:=3}" "${RUNS:=10}" "${N:=50}" "${BIG_MB:=400}" "${LOG_MB:=100}"
  : "${DENSITY:=1000}" "${DOCKER_DENSITY:=100}" "${IDLE_CPU_SECONDS:=10}" "${SETTLE:=3}"
  : "${NET_CONC:=8}" "${NET_SECS:=5}" "${NET_REQS:=5000}" "${NET_CONC_REQ:=8}" "${NET_PORTS:=200}"
  : "${NET_DENSITY:=2000}" "${NET_PS:=1000}"
  : "${SVC_N:=100}" "${HEALTH_N:=1000}" "${HEALTH_DOCKER_N:=100}" "${HEALTH_SECONDS:=20}"
fi
ENGINES=(berth docker podman)
[ "$BERTH_ONLY" = 1 ] && ENGINES=(berth)

if [ -z "${BERTH_BIN_DIR:-}" ]; then
  BERTH_BIN_DIR=${CARGO_TARGET_DIR:-$REPO/target}/release
fi

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root: the engines start real containers"
if [ ! -x "$BERTH_BIN_DIR/berth" ] || [ ! -x "$BERTH_BIN_DIR/berthd" ] || [ ! -x "$BERTH_BIN_DIR/berth-supervisor" ]; then
  die "no berth/berthd/berth-supervisor in $BERTH_BIN_DIR; build them: cargo build --release --bins (or set BERTH_BIN_DIR)"
fi

T=$(mktemp -d "${E2E_TMP:-/tmp}/berth-e2e.XXXXXX")
SAMPLES=$T/samples
mkdir -p "$SAMPLES"
LABEL=berth-e2e=1

# ---------------------------------------------------------------------------------------
# Packages
# ---------------------------------------------------------------------------------------
install_missing() {
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} = 0 ] && return 0
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  apt-get install -y -q "${missing[@]}" >&2
}
# The networking figures: iperf3 (throughput), apache2-utils' ab (request rate), fping (the
# density run's reachability), jq (iperf3's JSON).
NET_PACKAGES=()
[ "$DO_NETWORK" = 1 ] && NET_PACKAGES=(iperf3 apache2-utils fping jq)
if [ "$BERTH_ONLY" = 1 ]; then
  install_missing busybox-static "${NET_PACKAGES[@]}"
else
  install_missing busybox-static docker.io podman crun runc docker-registry hyperfine jq "${NET_PACKAGES[@]}"
fi
# hyperfine (with jq to read its JSON) times the short commands; without them (a quick run
# on a machine that lacks them) the harness times each run itself with $EPOCHREALTIME.
HAVE_HYPERFINE=0
command -v hyperfine >/dev/null && command -v jq >/dev/null && HAVE_HYPERFINE=1

# ---------------------------------------------------------------------------------------
# Engines: how to call each CLI, and which processes are its infrastructure
# ---------------------------------------------------------------------------------------
BERTH_SOCK=$T/berth/berth.sock
DOCKER_SOCK=$T/docker/docker.sock
BERTH_CLI="$BERTH_BIN_DIR/berth -H unix://$BERTH_SOCK"
# Debian's 20.10 client, matching the daemon, as the peer baselines used.
DOCKER_CLI="/usr/bin/docker -H unix://$DOCKER_SOCK"
PODMAN_CLI="/usr/bin/podman --root $T/podman/root --runroot $T/podman/run"

cli() { # cli ENGINE -> the command line (word-split on purpose; no path has spaces)
  case $1 in
    berth) echo "$BERTH_CLI" ;;
    docker) echo "$DOCKER_CLI" ;;
    podman) echo "$PODMAN_CLI" ;;
  esac
}
# e ENGINE ARGS... : run the engine's CLI
e() { local eng=$1; shift; $(cli "$eng") "$@"; }

BERTHD_PID="" DOCKERD_PID="" CONTAINERD_PID="" REGISTRY_PID="" PODMAN_SERVICE_PID=""

supervisor_pids() { # the berth supervisor started for our exec root
  local p
  for p in /proc/[0-9]*; do
    tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q -- "berth-supervisor --exec-root $T/berth/exec" &&
      echo "${p#/proc/}"
  done
  return 0
}
shim_pids() { # containerd shims whose parent chain is ours: shims re-parent to init, so
  # they are found by the containerd socket address under our exec root.
  local p
  for p in /proc/[0-9]*; do
    [ "$(cat "$p/comm" 2>/dev/null)" = containerd-shim ] || continue
    tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q -- "$T/docker/exec" && echo "${p#/proc/}"
  done
  return 0
}
conmon_pids() {
  local p
  for p in /proc/[0-9]*; do
    [ "$(cat "$p/comm" 2>/dev/null)" = conmon ] || continue
    tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q -- "$T/podman" && echo "${p#/proc/}"
  done
  return 0
}
infra_pids() { # the engine's long-lived processes: daemons plus per-container monitors
  case $1 in
    berth) echo "$BERTHD_PID"; supervisor_pids ;;
    docker) echo "$DOCKERD_PID"; echo "$CONTAINERD_PID"; shim_pids ;;
    podman) conmon_pids ;;
  esac
}
sum_kb() { # sum_kb FIELD FILE PIDS...
  local field=$1 file=$2 total=0 p v; shift 2
  for p in "$@"; do
    v=$(awk -v f="$field:" '$1==f{print $2}' "/proc/$p/$file" 2>/dev/null || true)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}
memused_kb() { # as free(1): MemTotal-MemFree-Buffers-Cached-SReclaimable
  awk '{v[$1]=$2} END{print v["MemTotal:"]-v["MemFree:"]-v["Buffers:"]-v["Cached:"]-v["SReclaimable:"]}' /proc/meminfo
}
mem_snapshot() { # -> "rss_kb pss_kb used_kb"
  local pids; pids=$(infra_pids "$1" | tr '\n' ' ')
  # shellcheck disable=SC2086
  echo "$(sum_kb VmRSS status $pids) $(sum_kb Pss smaps_rollup $pids) $(memused_kb)"
}
cpu_ticks() { # utime+stime of the engine's processes
  local t=0 p
  for p in $(infra_pids "$1"); do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$t"
}

# ---------------------------------------------------------------------------------------
# Samples and figures
# ---------------------------------------------------------------------------------------
# Each figure's samples: $SAMPLES/<figure>.<engine>, one number per line, or a line
# "n/a <reason>" when the engine cannot produce it.
add() { local fig=$1 eng=$2; shift 2; printf '%s\n' "$@" >>"$SAMPLES/$fig.$eng"; }
na() { echo "n/a $3" >"$SAMPLES/$1.$2"; }
is_na() { [ -f "$SAMPLES/$1.$2" ] && grep -q '^n/a' "$SAMPLES/$1.$2"; }

# supported ENGINE FIGURE... ARGS : runs the command once; if the CLI refuses it as not
# supported, marks the figures n/a for the engine and returns 1.
supported() {
  local eng=$1; shift
  local figs=()
  while [ "$1" != -- ]; do figs+=("$1"); shift; done
  shift
  local out rc=0
  out=$(e "$eng" "$@" 2>&1 >/dev/null) || rc=$?
  if [ $rc != 0 ] && grep -qi 'not supported' <<<"$out"; then
    local f; for f in "${figs[@]}"; do na "$f" "$eng" "($eng: not supported yet)"; done
    log "$eng: $* -> not supported yet ($(head -1 <<<"$out"))"
    return 1
  fi
  [ $rc = 0 ] || { log "$eng $*: failed: $out"; return 2; }
  return 0
}

secs() { # secs CMD... : wall seconds of one run, output discarded
  local s=$EPOCHREALTIME
  "$@" >/dev/null 2>>"$T/errors.log" || { log "failed: $*"; return 1; }
  awk -v s="$s" -v e="$EPOCHREALTIME" 'BEGIN{printf "%.4f", e-s}'
}

# timed_runs FIGURE ENGINE RUNS ARGS... : RUNS timed runs of the engine's CLI, in ms
timed_runs() {
  local fig=$1 eng=$2 runs=$3; shift 3
  local cmd; cmd="$(cli "$eng") $*"
  if [ "$HAVE_HYPERFINE" = 1 ]; then
    local json=$T/hf.json
    hyperfine -N --style none --warmup 1 --runs "$runs" --export-json "$json" "$cmd" >/dev/null 2>>"$T/errors.log" ||
      { log "failed: $cmd"; return 1; }
    # shellcheck disable=SC2046
    add "$fig" "$eng" $(jq -r '.results[0].times[] * 1000' "$json")
  else
    # shellcheck disable=SC2086 # the command line is split into words on purpose
    local i s; $cmd >/dev/null 2>&1 || true # warm-up
    for i in $(seq "$runs"); do
      # shellcheck disable=SC2086
      s=$(secs $cmd) || return 1
      add "$fig" "$eng" "$(awk -v s="$s" 'BEGIN{printf "%.3f", s*1000}')"
    done
  fi
}

# Figures in table order: id|label|unit|better (lower or higher)
FIGURES=(
  "version|CLI round trip (\`version\`)|ms|lower"
  "run_rm|\`run --rm busybox true\`, default network (a bridge, every engine)|ms|lower"
  "run_rm_none|\`run --rm --network none busybox true\`|ms|lower"
  "start_rate|$N sequential \`run -d busybox sleep\`, default bridge|containers/s|higher"
  "start_total|$N sequential \`run -d busybox sleep\`, default bridge, total|s|lower"
  "mem_rss|memory per running container: Δ RSS of daemon + shims/monitors / $N|kB|lower"
  "mem_pss|memory per running container: Δ PSS of daemon + shims/monitors / $N|kB|lower"
  "ps|\`ps\` with $N running|ms|lower"
  "stats|\`stats --no-stream\` with $N running|ms|lower"
  "exec|\`exec CONTAINER true\`, $N running|ms|lower"
  "top|\`top CONTAINER\`, $N running|ms|lower"
  "stop|\`stop -t 0\` of $N in one call|s|lower"
  "rm|\`rm\` of $N in one call|s|lower"
  "logs_ingest|$LOG_MB MB log: ingest (\`run -d\` + \`wait\`)|s|lower"
  "logs_read|$LOG_MB MB log: \`logs\` to /dev/null|s|lower"
  "idle_rss|idle daemon RSS (berth: berthd + supervisor; Docker: dockerd + containerd; Podman: \`system service\`)|MB|lower"
  "import|\`import\` of the big image ($BIG_MB MiB of files)|s|lower"
  "save|\`save\` of the big image|s|lower"
  "load|\`load\` of the big image|s|lower"
  "push|\`push\` of the big image to a local docker-registry|s|lower"
  "pull|\`pull\` of the big image from it|s|lower"
)
DENSITY_FIGURES=(
  "d_start|start N idle \`run -d busybox sleep\` (default bridge), total|s|lower"
  "d_rate|start rate|containers/s|higher"
  "d_rss|memory per container: Δ RSS of daemon + shims/monitors / N|kB|lower"
  "d_pss|memory per container: Δ PSS of daemon + shims/monitors / N|kB|lower"
  "d_sys|memory per container: Δ system used memory / N|kB|lower"
  "d_ps|\`ps\` with N running|ms|lower"
  "d_stats|\`stats --no-stream\` with N running|ms|lower"
  "d_idle_cpu|daemon CPU while idle with N running (% of one CPU)|%|lower"
)
# shellcheck source=network.sh
source "$HERE/network.sh"
# shellcheck source=services.sh
source "$HERE/services.sh"
# shellcheck source=firewall.sh
source "$HERE/firewall.sh"

# ---------------------------------------------------------------------------------------
# Clean-up: containers, daemons (by PID), mounts, network leftovers, directories
# ---------------------------------------------------------------------------------------
HUGETLB_MOUNTED=0 IPTABLES_BEFORE="" LINKS_BEFORE="" IP_FORWARD_BEFORE=""
stop_pid() { # stop_pid NAME PID [SECONDS]
  local name=$1 pid=$2 wait=${3:-30} i
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq $((wait * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name ($pid) ignored SIGTERM for ${wait}s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
}
remove_all_containers() {
  local ids
  ids=$(e "$1" ps -aq 2>/dev/null) || return 0
  # shellcheck disable=SC2086
  [ -z "$ids" ] || e "$1" rm -f $ids >/dev/null 2>&1 || true
}

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  log "cleaning up"
  stop_pid "podman system service" "$PODMAN_SERVICE_PID"
  stop_pid docker-registry "$REGISTRY_PID"
  if [ -n "$BERTHD_PID" ]; then
    kill -0 "$BERTHD_PID" 2>/dev/null && remove_all_containers berth
    stop_pid berthd "$BERTHD_PID"
    local i sv
    # The supervisor outlives berthd by design and exits on its own once it has no
    # containers; wait for that, and only then force it.
    for i in $(seq 300); do [ -z "$(supervisor_pids)" ] && break; sleep 0.1; done
    for sv in $(supervisor_pids); do log "berth supervisor $sv still up; killing it"; kill -KILL "$sv"; done
    # berthd leaves its networking up when it stops (live-restore): the bridge and the nft
    # table are this run's own, so they go with it.
    ip link show "$BERTH_BRIDGE" >/dev/null 2>&1 && ip link delete "$BERTH_BRIDGE"
    nft delete table inet "$BERTH_TABLE" 2>/dev/null; nft delete table ip "$BERTH_TABLE" 2>/dev/null
  fi
  if [ -n "$DOCKERD_PID" ]; then
    kill -0 "$DOCKERD_PID" 2>/dev/null && remove_all_containers docker
    stop_pid dockerd "$DOCKERD_PID" 60
    stop_pid containerd "$CONTAINERD_PID"
  fi
  if [ "$BERTH_ONLY" = 0 ] && [ -d "$T/podman/root" ]; then
    remove_all_containers podman
    e podman system reset -f >/dev/null 2>&1
  fi
  # Whatever is still mounted below the scratch directory, deepest first.
  awk -v t="$T" '$5 == t || index($5, t "/") == 1 {print $5}' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || log "could not unmount $m"; done
  [ -n "$IPTABLES_BEFORE" ] && restore_iptables && log "the iptables rules are as they were before dockerd"
  [ -n "$IP_FORWARD_BEFORE" ] && echo "$IP_FORWARD_BEFORE" >/proc/sys/net/ipv4/ip_forward
  # After the restore above, which brings the rule back when berthd made it before dockerd
  # started.
  [ -z "$BERTHD_PID" ] || forget_forward_rule "$BERTH_TABLE"
  # Bridges the peers made, if this run started them (a berth-only run touches no network).
  local link
  if [ -n "$DOCKERD_PID" ]; then
    for link in docker0 podman0 cni-podman0; do
      if ip link show "$link" >/dev/null 2>&1 && ! grep -qx "$link" <<<"$LINKS_BEFORE"; then
        ip link delete "$link" && log "deleted the $link bridge the peers created"
      fi
    done
  fi
  [ "$HUGETLB_MOUNTED" = 1 ] && log "left the v1 hugetlb hierarchy mounted at /sys/fs/cgroup/hugetlb:" \
    "daemons started during the run know it; umount it once none is running"
  rm -rf "$T"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------
# Set-up: host tweaks, images, daemons
# ---------------------------------------------------------------------------------------
host_setup_for_podman() {
  # Same logic as ../shared/peers/common.sh and 05_host_setup.sh.
  local capeff np u=/sys/fs/cgroup/unified c
  capeff=$(awk '$1=="CapEff:"{print $2}' /proc/self/status)
  if (((0x$capeff >> 24 & 1) == 0)); then
    np=$(ulimit -Hu)
    if [ "$np" = unlimited ] || [ "$np" -gt 32768 ]; then np=32768; fi
    cat >"$T/containers.conf" <<CONF
[containers]
default_capabilities = ["CHOWN","DAC_OVERRIDE","FOWNER","FSETID","KILL","NET_BIND_SERVICE","SETFCAP","SETGID","SETPCAP","SETUID","SYS_CHROOT"]
default_sysctls = ["net.ipv4.ping_group_range=0 0"]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=$np:$np"]
CONF
    export CONTAINERS_CONF=$T/containers.conf
  fi
  if [ -f "$u/cgroup.controllers" ] && [ -n "$(cat "$u/cgroup.controllers")" ] && [ -d /sys/fs/cgroup/memory ]; then
    for c in $(cat "$u/cgroup.controllers"); do
      [ "$c" = hugetlb ] || die "cgroup2 holds $c; crun refuses hybrid mode (see ../shared/peers/05_host_setup.sh)"
      if ! mountpoint -q /sys/fs/cgroup/hugetlb; then
        mkdir -p /sys/fs/cgroup/hugetlb
        mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
        HUGETLB_MOUNTED=1
        log "mounted the v1 hugetlb hierarchy for crun (it stays mounted, as with ../shared/peers)"
      fi
    done
  fi
}

build_images() {
  bash "$REPO/scripts/make-busybox-rootfs.sh" "$T/busybox.tar"
  # The big image, as ../shared/peers/10_build_rootfs.sh makes it: the busybox rootfs plus the
  # first BIG_MB MiB of regular files of /usr/lib, sorted by path.
  find /usr/lib -xdev -type f -printf '%s\t%p\n' | sort -t$'\t' -k2 |
    awk -F'\t' -v lim=$((BIG_MB * 1024 * 1024)) '{ if (done || t+$1 > lim) { done=1; next } t+=$1; print substr($2,2) }' >"$T/big-files.txt"
  cp "$T/busybox.tar" "$T/big.tar"
  tar -C / -rf "$T/big.tar" --files-from "$T/big-files.txt"
  BIG_BYTES=$(stat -c %s "$T/big.tar")
  log "images: busybox.tar $(stat -c %s "$T/busybox.tar") B; big.tar $BIG_BYTES B, $(wc -l <"$T/big-files.txt") files"
}

wait_for() { # wait_for SECONDS CMD... : until CMD succeeds
  local i
  for i in $(seq $(($1 * 10))); do "${@:2}" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

# The run's own bridge and nft table, so that a berthd already serving this host (berth0,
# table berth) is never touched.
BERTH_BRIDGE=berth-bench0
BERTH_TABLE=berth_bench

start_berthd() {
  mkdir -p "$T/berth"
  # berthd keeps descriptors per container; let it have the hard limit.
  (ulimit -n "$(ulimit -Hn)"; exec setsid "$BERTH_BIN_DIR/berthd" --data-root "$T/berth/data" \
    --exec-root "$T/berth/exec" -H "unix://$BERTH_SOCK" --log-level warn \
    --bridge "$BERTH_BRIDGE" --firewall-table "$BERTH_TABLE") \
    >"$T/berth/berthd.log" 2>&1 </dev/null &
  BERTHD_PID=$!
  wait_for 30 e berth version || die "berthd did not answer; log: $(tail -5 "$T/berth/berthd.log")"
  log "berthd pid $BERTHD_PID, supervisor $(supervisor_pids | tr '\n' ' ')"
}

start_dockerd() {
  mkdir -p "$T/docker"
  LINKS_BEFORE=$(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1)
  IPTABLES_BEFORE=$(iptables-save 2>/dev/null || true)
  [ -n "$IPTABLES_BEFORE" ] || IPTABLES_BEFORE="# empty"
  IP_FORWARD_BEFORE=$(cat /proc/sys/net/ipv4/ip_forward)
  setsid dockerd --data-root "$T/docker/data" --exec-root "$T/docker/exec" -H "unix://$DOCKER_SOCK" \
    --pidfile "$T/docker/dockerd.pid" >"$T/docker/dockerd.log" 2>&1 </dev/null &
  DOCKERD_PID=$!
  wait_for 60 e docker version || die "dockerd did not answer; log: $(tail -5 "$T/docker/dockerd.log")"
  local p
  for p in /proc/[0-9]*; do
    [ "$(cat "$p/comm" 2>/dev/null)" = containerd ] &&
      [ "$(awk '{print $4}' "$p/stat" 2>/dev/null)" = "$DOCKERD_PID" ] && CONTAINERD_PID=${p#/proc/}
  done
  log "dockerd pid $DOCKERD_PID, containerd pid $CONTAINERD_PID"
}

import_images() {
  local eng
  for eng in "${ENGINES[@]}"; do
    e "$eng" import --change 'CMD ["/bin/sh"]' "$T/busybox.tar" busybox:latest >/dev/null
    e "$eng" import "$T/big.tar" big:latest >/dev/null
    [ "$DO_NETWORK" = 0 ] || net_import_image "$eng"
  done
}

versions() {
  echo "- machine: $(nproc) CPUs ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, kernel $(uname -r), $(. /etc/os-release && echo "$PRETTY_NAME")"
  # The binaries need not match the checkout: say when they were built, beside the checkout.
  echo "- berth: binaries from $BERTH_BIN_DIR, built $(date -u -r "$BERTH_BIN_DIR/berthd" +%Y-%m-%dT%H:%M:%SZ); checkout at $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO" diff --quiet HEAD -- engine cli fsdriver 2>/dev/null || echo ' with uncommitted changes to engine/, cli/ or fsdriver/')"
  if [ "$BERTH_ONLY" = 0 ]; then
    local p
    for p in docker.io containerd runc podman crun conmon docker-registry hyperfine; do
      printf -- '- %s %s\n' "$p" "$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || echo missing)"
    done
  fi
  echo "- load average (1, 5, 15 min): $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end (the machine is shared)"
  echo "- timing: $([ "$HAVE_HYPERFINE" = 1 ] && echo "hyperfine -N (one warm-up)" || echo "bash \$EPOCHREALTIME around each run (hyperfine missing)"); rounds $ROUNDS, $RUNS runs per round for short commands"
}

# ---------------------------------------------------------------------------------------
# The figures
# ---------------------------------------------------------------------------------------
# rotated ROUND : the engines in this round's order
rotated() {
  local r=$1 n=${#ENGINES[@]} i
  for i in $(seq 0 $((n - 1))); do echo "${ENGINES[$(((i + r) % n))]}"; done
}

idle_rss() {
  local eng i pids
  for eng in "${ENGINES[@]}"; do
    for i in 1 2 3; do
      sleep "$SETTLE"
      case $eng in
        berth) pids="$BERTHD_PID $(supervisor_pids | tr '\n' ' ')" ;;
        docker) pids="$DOCKERD_PID $CONTAINERD_PID" ;;
        podman)
          if [ -z "$PODMAN_SERVICE_PID" ]; then
            rm -f "$T/podman.sock"
            # shellcheck disable=SC2086
            setsid $PODMAN_CLI system service -t 0 "unix://$T/podman.sock" >"$T/podman-service.log" 2>&1 </dev/null &
            PODMAN_SERVICE_PID=$!
            wait_for 10 test -S "$T/podman.sock"
            sleep 2
          fi
          pids=$PODMAN_SERVICE_PID ;;
      esac
      # shellcheck disable=SC2086
      add idle_rss "$eng" "$(awk -v k="$(sum_kb VmRSS status $pids)" 'BEGIN{printf "%.1f", k/1024}')"
    done
  done
  stop_pid "podman system service" "$PODMAN_SERVICE_PID"
  PODMAN_SERVICE_PID=""
}

# Each figure is measured by a function taking one engine; `rounds` calls it for every engine,
# ROUNDS times, rotating which engine goes first. A failure is recorded against the figures
# (the table shows it) and, unless --keep-going, stops the run. Inside these functions every
# command that matters is checked explicitly: errexit does not apply under `if !`.
FAILED=0
failed() { # failed ENGINE FIGURE...
  local eng=$1 f; shift
  for f in "$@"; do echo failed >>"$SAMPLES/$f.$eng.failed"; done
  FAILED=$((FAILED + 1))
  [ "$KEEP_GOING" = 1 ] || die "$eng: ${*} failed (see $T/errors.log; --keep-going to carry on)"
  log "$eng: $* failed; carrying on"
}
rounds() { # rounds "FIGURE..." FUNCTION
  local fig_list=$1 fn=$2 r eng
  for r in $(seq "$ROUNDS"); do
    for eng in $(rotated "$r"); do
      # shellcheck disable=SC2086
      "$fn" "$eng" || failed "$eng" $fig_list
    done
    log "round $r/$ROUNDS: $fn done"
  done
}
elapsed() { awk -v s="$1" -v e="$EPOCHREALTIME" 'BEGIN{printf "%.4f", e-s}'; }
# timed FIGURE ENGINE CMD... : one timed run of CMD, in seconds, added to FIGURE
timed() {
  local fig=$1 eng=$2 v; shift 2
  v=$(secs "$@") || return 1
  add "$fig" "$eng" "$v"
}

one_version_and_run_rm() {
  timed_runs version "$1" "$RUNS" version &&
    timed_runs run_rm "$1" "$RUNS" run --rm busybox true &&
    timed_runs run_rm_none "$1" "$RUNS" run --rm --network none busybox true
}

names() { local i; for i in $(seq "$1"); do printf 'e2e-%s ' "$i"; done; }

# start_many ENGINE COUNT : COUNT sequential `run -d`, prints the wall seconds
start_many() {
  local eng=$1 count=$2 i s
  s=$EPOCHREALTIME
  for i in $(seq "$count"); do
    e "$eng" run -d --label "$LABEL" --name "e2e-$i" busybox sleep 100000 >/dev/null 2>>"$T/errors.log" ||
      { log "$eng: run -d e2e-$i failed: $(grep -v "^Run '" "$T/errors.log" | tail -1)"; return 1; }
  done
  elapsed "$s"
}

# per_container BEFORE AFTER COUNT FIG_RSS FIG_PSS FIG_SYS ENGINE
per_container() {
  local br bp bu ar ap au
  read -r br bp bu <<<"$1"
  read -r ar ap au <<<"$2"
  add "$4" "$7" "$(awk -v a="$ar" -v b="$br" -v n="$3" 'BEGIN{printf "%.1f", (a-b)/n}')"
  add "$5" "$7" "$(awk -v a="$ap" -v b="$bp" -v n="$3" 'BEGIN{printf "%.1f", (a-b)/n}')"
  # System-wide memory moves with everything else on a shared machine; only the density
  # run, with hundreds of containers, has a signal above that noise.
  [ -z "$6" ] || add "$6" "$7" "$(awk -v a="$au" -v b="$bu" -v n="$3" 'BEGIN{printf "%.1f", (a-b)/n}')"
}

one_many() {
  local eng=$1 before after total running mid=e2e-$(((N + 1) / 2))
  remove_all_containers "$eng"
  sync; sleep "$SETTLE"
  before=$(mem_snapshot "$eng")
  total=$(start_many "$eng" "$N") || return 1
  add start_total "$eng" "$total"
  add start_rate "$eng" "$(awk -v n="$N" -v t="$total" 'BEGIN{printf "%.3f", n/t}')"
  sleep "$SETTLE"
  after=$(mem_snapshot "$eng")
  per_container "$before" "$after" "$N" mem_rss mem_pss "" "$eng"
  running=$(e "$eng" ps -q | wc -l)
  [ "$running" -ge "$N" ] || { log "$eng: only $running of $N running"; return 1; }
  timed_runs ps "$eng" "$RUNS" ps || return 1
  if ! is_na stats "$eng" && supported "$eng" stats -- stats --no-stream; then
    timed_runs stats "$eng" "$(((RUNS + 1) / 2))" stats --no-stream || return 1
  fi
  if ! is_na exec "$eng" && supported "$eng" exec -- exec "$mid" true; then
    timed_runs exec "$eng" "$RUNS" exec "$mid" true || return 1
  fi
  if ! is_na top "$eng" && supported "$eng" top -- top "$mid"; then
    timed_runs top "$eng" "$RUNS" top "$mid" || return 1
  fi
  # shellcheck disable=SC2046
  timed stop "$eng" e "$eng" stop -t 0 $(names "$N") || return 1
  # shellcheck disable=SC2046
  timed rm "$eng" e "$eng" rm $(names "$N") || return 1
  log "$eng: $N started in ${total}s"
}

one_logs() {
  local eng=$1 s got bytes=$((LOG_MB * 1000000))
  e "$eng" rm -f e2e-logs >/dev/null 2>&1 || true
  sync; sleep 1
  s=$EPOCHREALTIME
  e "$eng" run -d --label "$LABEL" --name e2e-logs busybox sh -c \
    "yes abcdefghijklmnopqrstuvwxyz | head -c $bytes" >/dev/null 2>>"$T/errors.log" || return 1
  e "$eng" wait e2e-logs >/dev/null 2>>"$T/errors.log" || return 1
  add logs_ingest "$eng" "$(elapsed "$s")"
  got=$(e "$eng" logs e2e-logs 2>/dev/null | wc -c)
  [ "$got" = "$bytes" ] || { log "$eng: logs returned $got bytes, not $bytes"; return 1; }
  timed logs_read "$eng" e "$eng" logs e2e-logs || return 1
  e "$eng" rm -f e2e-logs >/dev/null
}

rmi_big() { e "$1" rmi -f big:latest >/dev/null 2>&1 || true; }

one_images() {
  local eng=$1 out=$T/saved.tar
  rmi_big "$eng"; sync; sleep 1
  timed import "$eng" e "$eng" import "$T/big.tar" big:latest || return 1
  if ! is_na save "$eng" && supported "$eng" save load -- save -o "$out" busybox:latest; then
    rm -f "$out"; sync; sleep 1
    timed save "$eng" e "$eng" save -o "$out" big:latest || return 1
    rmi_big "$eng"; sync; sleep 1
    timed load "$eng" e "$eng" load -i "$out" || return 1
    e "$eng" image inspect big:latest >/dev/null || { log "$eng: load did not bring big:latest back"; return 1; }
  fi
  rm -f "$out"
}

registry_start() {
  stop_pid docker-registry "$REGISTRY_PID"
  rm -rf "$T/registry"; mkdir -p "$T/registry/data"
  cat >"$T/registry/config.yml" <<CONF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $T/registry/data
http:
  addr: 127.0.0.1:5000
CONF
  setsid docker-registry serve "$T/registry/config.yml" >>"$T/registry.log" 2>&1 </dev/null &
  REGISTRY_PID=$!
  wait_for 10 bash -c '(exec 3<>/dev/tcp/127.0.0.1/5000)' || { log "docker-registry did not start"; return 1; }
}

# measure_or_na FIG ENGINE NA-FIGS CMD... : one timed run added to FIG; a CLI refusal as "not
# supported" marks NA-FIGS (comma-separated) n/a instead and returns 1; other failures 2.
measure_or_na() {
  local fig=$1 eng=$2 na_figs=$3; shift 3
  local s rc=0 err=$T/measure.err
  s=$EPOCHREALTIME
  "$@" >/dev/null 2>"$err" || rc=$?
  if [ $rc = 0 ]; then
    add "$fig" "$eng" "$(elapsed "$s")"
    return 0
  fi
  cat "$err" >>"$T/errors.log"
  if grep -qi 'not supported' "$err"; then
    local f; for f in ${na_figs//,/ }; do na "$f" "$eng" "($eng: not supported yet)"; done
    log "$eng: $fig -> not supported yet ($(head -1 "$err"))"
    return 1
  fi
  log "failed: $* ($(head -1 "$err"))"
  return 2
}

# Each round starts a fresh, empty registry, so every push uploads every blob, and the pull
# follows the removal of every local name of the image, so it downloads and extracts it.
one_registry() {
  local eng=$1 tls=() ref=127.0.0.1:5000/big:latest rc=0
  is_na push "$eng" && return 0
  [ "$eng" = podman ] && tls=(--tls-verify=false)
  registry_start || return 1
  e "$eng" tag big:latest "$ref" || return 1
  sync; sleep 1
  measure_or_na push "$eng" push,pull e "$eng" push "${tls[@]}" "$ref" || rc=$?
  if [ $rc = 0 ]; then
    e "$eng" rmi -f "$ref" big:latest >/dev/null || return 1
    sync; sleep 1
    measure_or_na pull "$eng" pull e "$eng" pull "${tls[@]}" "$ref" || return 1
    e "$eng" tag "$ref" big:latest || return 1
  fi
  e "$eng" rmi "$ref" >/dev/null
  stop_pid docker-registry "$REGISTRY_PID"
  REGISTRY_PID=""
  [ $rc -le 1 ]
}

# density ENGINE COUNT
density() {
  local eng=$1 count=$2 before after total t0 t1 s
  remove_all_containers "$eng"
  sync; sleep "$SETTLE"
  before=$(mem_snapshot "$eng")
  total=$(start_many "$eng" "$count") || return 1
  add d_start "$eng" "$total"
  add d_rate "$eng" "$(awk -v n="$count" -v t="$total" 'BEGIN{printf "%.3f", n/t}')"
  sleep "$SETTLE"
  after=$(mem_snapshot "$eng")
  per_container "$before" "$after" "$count" d_rss d_pss d_sys "$eng"
  t0=$(cpu_ticks "$eng"); sleep "$IDLE_CPU_SECONDS"; t1=$(cpu_ticks "$eng")
  add d_idle_cpu "$eng" "$(awk -v a="$t0" -v b="$t1" -v hz="$(getconf CLK_TCK)" -v s="$IDLE_CPU_SECONDS" 'BEGIN{printf "%.2f", 100*(b-a)/hz/s}')"
  timed_runs d_ps "$eng" "$RUNS" ps || return 1
  if supported "$eng" d_stats -- stats --no-stream; then
    timed_runs d_stats "$eng" 3 stats --no-stream || return 1
  fi
  log "density $eng: $count started in ${total}s; ps $(tail -1 "$SAMPLES/d_ps.$eng") ms"
  s=$EPOCHREALTIME
  remove_all_containers "$eng"
  log "density $eng: removed $count in $(elapsed "$s")s"
}

# ---------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------
# summary FIG ENGINE -> "median min max n" or "n/a <reason>" or "" (not measured)
summary() {
  local f=$SAMPLES/$1.$2
  [ -f "$f" ] || return 0
  if grep -q '^n/a' "$f"; then head -1 "$f"; return 0; fi
  sort -g "$f" | awk '{a[NR]=$1} END{ if (NR==0) exit; m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2;
    printf "%s %s %s %d\n", m, a[1], a[NR], NR }'
}
fmt() { awk -v x="$1" 'BEGIN{ a=(x<0)?-x:x; if (a>=100) printf "%.0f", x; else if (a>=10) printf "%.1f", x; else if (a>=1) printf "%.2f", x; else printf "%.3f", x }'; }
cell() { # cell FIG ENGINE
  local s failures=""; s=$(summary "$1" "$2")
  [ -f "$SAMPLES/$1.$2.failed" ] && failures="$(wc -l <"$SAMPLES/$1.$2.failed") round(s) failed"
  if [ -n "$failures" ]; then
    if [ -z "$s" ] || [[ $s == n/a* ]]; then echo "failed ($failures)"; return; fi
  fi
  case $s in
    "") echo "—" ;;
    n/a*) echo "n/a ${s#n/a }" ;;
    *) local m mn mx n; read -r m mn mx n <<<"$s"
       echo "$(fmt "$m") ($(fmt "$mn")–$(fmt "$mx"))${failures:+, $failures}" ;;
  esac
}
ratio() { # ratio FIG PEER -> berth median / peer median
  local b p; b=$(summary "$1" berth); p=$(summary "$1" "$2")
  if [ -z "$b" ] || [ -z "$p" ] || [[ $b == n/a* ]] || [[ $p == n/a* ]]; then echo "—"; return; fi
  awk -v b="${b%% *}" -v p="${p%% *}" 'BEGIN{ if (p==0) print "—"; else printf "%.3g\n", b/p }'
}

table() { # table FIGURE-SPECS... : one column per engine measured on any of these figures
  local spec id label unit better eng engines=() peers=() header sep row
  for eng in "${ENGINES[@]}"; do
    for spec in "$@"; do
      if [ -f "$SAMPLES/${spec%%|*}.$eng" ] || [ -f "$SAMPLES/${spec%%|*}.$eng.failed" ]; then
        engines+=("$eng")
        [ "$eng" = berth ] || peers+=("$eng")
        break
      fi
    done
  done
  header="| figure | unit | better |"; sep="|---|---|---|"
  for eng in "${engines[@]}"; do header+=" $eng |"; sep+="---|"; done
  for eng in "${peers[@]}"; do header+=" berth/$eng |"; sep+="---|"; done
  echo "$header"; echo "$sep"
  for spec in "$@"; do
    IFS='|' read -r id label unit better <<<"$spec"
    row="| $label | $unit | $better |"
    local any=0
    for eng in "${engines[@]}"; do
      [ -f "$SAMPLES/$id.$eng" ] || [ -f "$SAMPLES/$id.$eng.failed" ] && any=1
      row+=" $(cell "$id" "$eng") |"
    done
    [ "$any" = 1 ] || continue
    for eng in "${peers[@]}"; do row+=" $(ratio "$id" "$eng") |"; done
    echo "$row"
  done
}

# ---------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------
STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "scratch $T; engines ${ENGINES[*]}; rounds $ROUNDS, runs $RUNS, N $N, big $BIG_MB MiB, logs $LOG_MB MB"
[ "$BERTH_ONLY" = 1 ] || host_setup_for_podman
build_images
[ "$DO_NETWORK" = 0 ] || net_build_image
start_berthd
[ "$BERTH_ONLY" = 1 ] || start_dockerd
import_images
idle_rss

if [ "$SVC_ONLY" = 0 ]; then
  rounds "version run_rm run_rm_none" one_version_and_run_rm
  rounds "start_rate start_total mem_rss mem_pss ps stats exec top stop rm" one_many
fi
if [ "$NET_ONLY" = 0 ] && [ "$SVC_ONLY" = 0 ]; then
  rounds "logs_ingest logs_read" one_logs
  rounds "import save load" one_images
  [ "$BERTH_ONLY" = 1 ] || rounds "push pull" one_registry
fi
if [ "$DO_NETWORK" = 1 ]; then
  rounds "n_conc n_conc_x" one_net_conc
  rounds "n_tput_direct n_tput_pub n_tput_ratio n_rps_direct n_rps_pub n_rps_ratio" one_net_traffic
  rounds "n_ports_run n_ports_rss n_ports_procs" one_net_ports
fi
if [ "$DO_SERVICES" = 1 ] && [ "$NET_ONLY" = 0 ]; then
  rounds "v_create v_create_vol v_ratio v_start v_start_vol" one_volumes
  # one round: HEALTH_N containers take a while to start, and the window is long already
  one_health berth || failed berth h_cpu h_fresh
  if [ "$BERTH_ONLY" = 0 ]; then
    one_health docker || failed docker h_cpu h_fresh
  fi
fi
if [ "$DO_DENSITY" = 1 ] && [ "$NET_ONLY" = 0 ] && [ "$SVC_ONLY" = 0 ]; then
  density berth "$DENSITY" || failed berth d_start d_rate d_rss d_pss d_sys d_ps d_stats d_idle_cpu
  if [ "$BERTH_ONLY" = 0 ]; then
    density docker "$DOCKER_DENSITY" || failed docker d_start d_rate d_rss d_pss d_sys d_ps d_stats d_idle_cpu
  fi
fi
if [ "$DO_DENSITY" = 1 ] && [ "$DO_NETWORK" = 1 ]; then
  net_density || failed berth nd_start nd_rate nd_routed nd_host nd_peer nd_ps_net nd_inspect_net nd_ps_none nd_inspect_none nd_ps_all
fi

REPORT=$T/report.md
{
  echo "## Run of $STARTED$([ "$QUICK" = 1 ] && echo " (quick)")"
  echo
  versions
  echo
  echo "Medians, with (min–max) over all rounds; ratio = berth median / peer median (below 1: berth takes less of it)."
  echo
  table "${FIGURES[@]}"
  if [ "$DO_SERVICES" = 1 ] && [ "$NET_ONLY" = 0 ]; then
    echo
    echo "Volumes and healthchecks (benches/e2e/services.sh): $SVC_N containers with and without a new named volume; healthchecks every 1 s on $HEALTH_N containers under berth$([ "$BERTH_ONLY" = 1 ] || echo ", $HEALTH_DOCKER_N under Docker") for ${HEALTH_SECONDS} s."
    echo
    table "${SVC_FIGURES[@]}"
  fi
  if [ "$DO_DENSITY" = 1 ] && [ "$NET_ONLY" = 0 ] && [ "$SVC_ONLY" = 0 ]; then
    echo
    echo "Density: berth with N = $DENSITY$([ "$BERTH_ONLY" = 1 ] || echo ", Docker with N = $DOCKER_DENSITY") (ratios of totals and times compare different N)."
    echo
    table "${DENSITY_FIGURES[@]}"
  fi
  if [ "$DO_NETWORK" = 1 ]; then
    echo
    echo "Networking (benches/e2e/network.sh): every container on the engine's default bridge; ports published on 127.0.0.1; $NET_PORTS ports in one range."
    echo
    table "${NET_FIGURES[@]}"
    if [ "$DO_DENSITY" = 1 ]; then
      echo
      echo "Density on the default bridge, berth only: $NET_DENSITY containers, every one pinged from the host and from a peer container; \`ps\`/\`inspect\` with $NET_PS networked and $NET_PS \`--network none\` containers."
      echo
      table "${NET_DENSITY_FIGURES[@]}"
    fi
  fi
} >"$REPORT"
cat "$REPORT"
if [ "$APPEND" = 1 ]; then
  { echo; cat "$REPORT"; } >>"$REPO/benches/RESULTS.md"
  log "appended to benches/RESULTS.md"
fi
[ "$FAILED" = 0 ] || die "$FAILED measurement(s) failed; see the table"
