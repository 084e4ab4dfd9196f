#!/usr/bin/env bash
# The builder side by side: berth's POST /build, Docker's classic builder (Debian's docker
# 20.10 client with DOCKER_BUILDKIT=0 against its own dockerd) and `podman build`
# (buildah), in one run, on roots of their own under one scratch directory (issue 11,
# Performance). Run as root:
#
#   bash benches/e2e/build.sh                 # berth, Docker, Podman
#   bash benches/e2e/build.sh --berth-only --no-append
#
# Figures, each the median of ROUNDS runs per engine (the engines alternate, the first one
# rotating each round, so the machine's noise falls on all alike):
# - cold: a 10-step Dockerfile on busybox (ENV, RUN, WORKDIR, COPY of a TREE_MB MiB tree of
#   FILE_KB KiB files, LABEL, CMD…) built with --no-cache;
# - cached: the same build again, every step a cache hit, end to end (CLI start to exit);
# - changed: the build after one file of the tree changed; the run checks that the steps
#   before the COPY were cache hits and the COPY and later ones were redone;
# - stages: two independent stages of `sleep STAGE_SECONDS` each, and a final stage copying
#   from both, built with --no-cache (≈ STAGE_SECONDS when they run at the same time).
# RUN steps use --network none on every engine, so no network set-up is timed.
#
# While dockerd and podman run, the run holds /tmp/berth-peers.lock (the machine is shared),
# and it puts the iptables rules and bridges back as benches/e2e/run.sh does. Output: a
# markdown table on stdout, appended to benches/RESULTS.md with the load average and the
# commit unless --no-append. Environment: ROUNDS=3 TREE_MB=50 FILE_KB=8 STAGE_SECONDS=3,
# BERTH_BIN_DIR (default target/release), E2E_TMP (scratch parent, /tmp).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source=firewall.sh
source "$HERE/firewall.sh"
BERTH_ONLY=0 APPEND=1
for arg in "$@"; do
  case $arg in
    --berth-only) BERTH_ONLY=1 ;;
    --no-append) APPEND=0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "build.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done
: "${ROUNDS:=3}" "${TREE_MB:=50}" "${FILE_KB:=8}" "${STAGE_SECONDS:=3}"
: "${BERTH_BIN_DIR:=$REPO/target/release}"
ENGINES=(berth docker podman)
[ "$BERTH_ONLY" = 1 ] && ENGINES=(berth)

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"
for b in berth berthd berth-supervisor; do
  [ -x "$BERTH_BIN_DIR/$b" ] || die "no $b in $BERTH_BIN_DIR: cargo build --release --bins"
done
if [ "$BERTH_ONLY" = 0 ]; then
  for p in docker.io podman crun busybox-static; do
    dpkg -s "$p" >/dev/null 2>&1 || die "$p is missing: bash benches/e2e/run.sh installs the peers"
  done
fi
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
T=$(mktemp -d "${E2E_TMP:-/tmp}/berth-build-bench.XXXXXX")
BERTH_SOCK=$T/berth/berth.sock DOCKER_SOCK=$T/docker/docker.sock
BERTH_BRIDGE=berth-bbench0 BERTH_TABLE=berth_bbench
BERTHD_PID="" DOCKERD_PID="" IPTABLES_BEFORE="" IP_FORWARD_BEFORE="" LINKS_BEFORE=""

e() { # e ENGINE ARGS... : the engine's CLI
  local eng=$1; shift
  case $eng in
    berth) "$BERTH_BIN_DIR/berth" -H "unix://$BERTH_SOCK" "$@" ;;
    docker) DOCKER_BUILDKIT=0 /usr/bin/docker -H "unix://$DOCKER_SOCK" "$@" ;;
    podman) podman --root "$T/podman/root" --runroot "$T/podman/run" "$@" ;;
  esac
}

stop_pid() { # stop_pid PID [SECONDS]
  local pid=$1 i
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq $((${2:-30} * 10))); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}


cleanup() {
  local rc=$? link p
  set +e
  trap - EXIT INT TERM
  log "cleaning up"
  if [ -n "$BERTHD_PID" ]; then
    stop_pid "$BERTHD_PID"
    for p in /proc/[0-9]*; do
      tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q -- "berth-supervisor --exec-root $T/berth/exec" &&
        { sleep 2; kill -KILL "${p#/proc/}" 2>/dev/null; }
    done
    ip link show "$BERTH_BRIDGE" >/dev/null 2>&1 && ip link delete "$BERTH_BRIDGE"
    nft delete table inet "$BERTH_TABLE" 2>/dev/null; nft delete table ip "$BERTH_TABLE" 2>/dev/null
    forget_forward_rule "$BERTH_TABLE"
  fi
  if [ -n "$DOCKERD_PID" ]; then
    stop_pid "$DOCKERD_PID" 60
    for p in /proc/[0-9]*; do
      [ "$(cat "$p/comm" 2>/dev/null)" = containerd ] && tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q -- "$T/docker" &&
        stop_pid "${p#/proc/}"
    done
  fi
  [ "$BERTH_ONLY" = 0 ] && [ -d "$T/podman/root" ] && e podman system reset -f >/dev/null 2>&1
  awk -v t="$T" '$5 == t || index($5, t "/") == 1 {print $5}' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null; done
  [ -n "$IPTABLES_BEFORE" ] && restore_iptables
  [ -n "$IP_FORWARD_BEFORE" ] && echo "$IP_FORWARD_BEFORE" >/proc/sys/net/ipv4/ip_forward
  if [ -n "$LINKS_BEFORE" ]; then
    for link in docker0 podman0 cni-podman0; do
      ip link show "$link" >/dev/null 2>&1 && ! grep -qx "$link" <<<"$LINKS_BEFORE" && ip link delete "$link"
    done
  fi
  rm -rf "$T"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() { local i; for i in $(seq $(($1 * 10))); do "${@:2}" >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }

# ---- contexts ------------------------------------------------------------------------
bash "$REPO/scripts/make-busybox-rootfs.sh" "$T/busybox.tar"
mkdir -p "$T/ctx/tree" "$T/stages"
python3 - "$T/ctx/tree" "$TREE_MB" "$FILE_KB" <<'PY'
import os, sys
root, mb, kb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
count = mb * 1024 // kb
for i in range(count):
    d = os.path.join(root, "d%03d" % (i // 100))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d" % i), "wb") as f:
        f.write(os.urandom(kb * 1024))
PY
cat >"$T/ctx/Dockerfile" <<'EOF'
FROM busybox
ENV APP=bench
RUN echo one > /one
WORKDIR /app
ARG LEVEL=1
COPY tree /app/tree
RUN find /app/tree -type f | wc -l > /count
ENV DONE=1
LABEL bench=build
CMD ["cat", "/count"]
EOF
cat >"$T/stages/Dockerfile" <<EOF
FROM busybox AS a
RUN sleep $STAGE_SECONDS && echo a > /a
FROM busybox AS b
RUN sleep $STAGE_SECONDS && echo b > /b
FROM busybox
COPY --from=a /a /a
COPY --from=b /b /b
EOF
FILES=$(find "$T/ctx/tree" -type f | wc -l)
log "context: $FILES files, $(du -sm "$T/ctx/tree" | cut -f1) MiB"

# ---- engines -------------------------------------------------------------------------
if [ "$BERTH_ONLY" = 0 ]; then
  exec 9>/tmp/berth-peers.lock
  log "waiting for /tmp/berth-peers.lock"
  flock 9
  LINKS_BEFORE=$(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1)
  IPTABLES_BEFORE=$(iptables-save 2>/dev/null || true); [ -n "$IPTABLES_BEFORE" ] || IPTABLES_BEFORE="# empty"
  IP_FORWARD_BEFORE=$(cat /proc/sys/net/ipv4/ip_forward)
  mkdir -p "$T/docker"
  setsid dockerd --data-root "$T/docker/data" --exec-root "$T/docker/exec" -H "unix://$DOCKER_SOCK" \
    --pidfile "$T/docker/dockerd.pid" >"$T/docker/dockerd.log" 2>&1 </dev/null &
  DOCKERD_PID=$!
  wait_for 60 e docker version || die "dockerd did not answer: $(tail -3 "$T/docker/dockerd.log")"
  # As benches/e2e/run.sh: podman's rlimits without CAP_SYS_RESOURCE.
  capeff=$(awk '$1=="CapEff:"{print $2}' /proc/self/status)
  if (((0x$capeff >> 24 & 1) == 0)); then
    np=$(ulimit -Hu); { [ "$np" = unlimited ] || [ "$np" -gt 32768 ]; } && np=32768
    printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=%s:%s"]\n' \
      "$(ulimit -Hn)" "$(ulimit -Hn)" "$np" "$np" >"$T/containers.conf"
    export CONTAINERS_CONF=$T/containers.conf
  fi
fi
mkdir -p "$T/berth"
setsid "$BERTH_BIN_DIR/berthd" --data-root "$T/berth/data" --exec-root "$T/berth/exec" \
  -H "unix://$BERTH_SOCK" --log-level warn --bridge "$BERTH_BRIDGE" --firewall-table "$BERTH_TABLE" \
  >"$T/berth/berthd.log" 2>&1 </dev/null &
BERTHD_PID=$!
wait_for 30 e berth version || die "berthd did not answer: $(tail -3 "$T/berth/berthd.log")"
for eng in "${ENGINES[@]}"; do
  e "$eng" import --change 'CMD ["/bin/sh"]' "$T/busybox.tar" busybox:latest >/dev/null
done

# ---- figures -------------------------------------------------------------------------
S=$T/samples; mkdir -p "$S"
timed() { # timed FIGURE ENGINE ARGS... : one build, its wall seconds recorded, output kept
  local fig=$1 eng=$2 start end; shift 2
  start=$EPOCHREALTIME
  e "$eng" build --network none "$@" >"$T/out.$fig.$eng" 2>&1 || die "$eng $fig: $(tail -5 "$T/out.$fig.$eng")"
  end=$EPOCHREALTIME
  awk -v a="$start" -v b="$end" 'BEGIN{printf "%.3f\n", b-a}' >>"$S/$fig.$eng"
}
# Cache hits in a build's output: the classic builder's and podman's "Using cache" lines,
# berth's progress display's "#N CACHED".
cache_hits() { grep -c -e 'Using cache' -e '^#[0-9]* CACHED$' "$T/out.$1.$2" || true; }
# check ENGINE WHAT GOT WANTED: berth must redo exactly what the issue says; a peer's count
# is reported beside its figures (their outputs count steps their own way).
check() {
  echo "$1 $2: $3 cache hits" >>"$S/hits"
  [ "$1" != berth ] || [ "$3" = "$4" ] || die "berth $2: $3 cache hits, not $4: $(cat "$T/out.$2.berth")"
}

for r in $(seq "$ROUNDS"); do
  n=${#ENGINES[@]}
  for i in $(seq 0 $((n - 1))); do
    eng=${ENGINES[$(((i + r) % n))]}
    log "round $r: $eng"
    timed cold "$eng" --no-cache -t bench "$T/ctx"
    timed cached "$eng" -t bench "$T/ctx"
    check "$eng" cached "$(cache_hits cached "$eng")" 9
    f=$(find "$T/ctx/tree" -type f | sort | sed -n "$((r * 7))p")
    head -c $((FILE_KB * 1024)) /dev/urandom >"$f"
    timed changed "$eng" -t bench "$T/ctx"
    # FROM is no cache hit; ENV RUN WORKDIR ARG are the four steps before the COPY.
    check "$eng" changed "$(cache_hits changed "$eng")" 4
    timed stages "$eng" --no-cache -t stages "$T/stages"
  done
done

# ---- report --------------------------------------------------------------------------
median() { sort -n "$1" | awk '{v[NR]=$1} END{print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
REPORT=$T/report.md
{
  echo "### Builds side by side ($(date -u +%Y-%m-%d), benches/e2e/build.sh)"
  echo
  echo "- commit $(git -C "$REPO" rev-parse --short HEAD) (binaries from $BERTH_BIN_DIR, built $(date -u -r "$BERTH_BIN_DIR/berthd" +%H:%MZ)); $(nproc) CPUs; $ROUNDS rounds; context $FILES files of $FILE_KB KiB ($TREE_MB MiB); stages of ${STAGE_SECONDS}s"
  [ "$BERTH_ONLY" = 0 ] && echo "- docker.io $(dpkg-query -W -f='${Version}' docker.io) (classic builder, DOCKER_BUILDKIT=0); podman $(dpkg-query -W -f='${Version}' podman)"
  echo "- load average: $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end (the machine is shared)"
  echo
  printf '| figure (median s) |'; for eng in "${ENGINES[@]}"; do printf ' %s |' "$eng"; done
  [ "$BERTH_ONLY" = 0 ] && printf ' berth / best peer |'
  echo; printf '|---|'; for eng in "${ENGINES[@]}"; do printf -- '---|'; done; [ "$BERTH_ONLY" = 0 ] && printf -- '---|'; echo
  for fig in cold cached changed stages; do
    printf '| %s |' "$fig"
    for eng in "${ENGINES[@]}"; do printf ' %s |' "$(median "$S/$fig.$eng")"; done
    if [ "$BERTH_ONLY" = 0 ]; then
      b=$(median "$S/$fig.berth"); d=$(median "$S/$fig.docker"); p=$(median "$S/$fig.podman")
      awk -v b="$b" -v d="$d" -v p="$p" 'BEGIN{best=(d<p)?d:p; printf " %.2f |", b/best}'
    fi
    echo
  done
  echo
  echo "Cache hits per build (berth's checked: 9 of 9 cached, the 4 before the COPY after a change): $(sort -u "$S/hits" | tr '\n' ';' | sed 's/;$//; s/;/; /g')"
} >"$REPORT"
cat "$REPORT"
if [ "$APPEND" = 1 ]; then
  { echo; cat "$REPORT"; } >>"$REPO/benches/RESULTS.md"
  log "appended to benches/RESULTS.md"
fi
