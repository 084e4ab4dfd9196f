#!/usr/bin/env bash
# Set up berth on a fresh Debian 12 machine, as root, and run a first container:
# system packages, a release build, the binaries and man pages in /usr/local, berthd in the
# background, a busybox image made from Debian's busybox-static, then
# `berth run --rm busybox echo hello`. Safe to run again.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh must run as root (it installs packages and starts berthd)" >&2
  exit 1
fi

log() { echo "[setup] $*" >&2; }
# shellcheck source=scripts/common.sh
source scripts/common.sh

# --- system packages --------------------------------------------------------------------
# nftables: berthd programs its firewall (published ports, masquerade) through `nft`.
packages=(busybox-static man-db tar ca-certificates nftables)
command -v cc >/dev/null 2>&1 || packages+=(build-essential pkg-config)
install_missing_packages "${packages[@]}"

# --- build ------------------------------------------------------------------------------
add_rustup_cargo_to_path
if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install a Rust toolchain (rustup) first" >&2
  exit 1
fi
log "cargo build --release --bins"
cargo build --release --bins
release_dir=${CARGO_TARGET_DIR:-$repo/target}/release

# --- install ----------------------------------------------------------------------------
# Copy then rename, so replacing a binary that is running (berthd) never fails with ETXTBSY.
# An unchanged binary is left alone, so a running berthd keeps running.
# berthd starts the supervisor (berth-supervisor) from its own directory.
for bin in berth berthd berth-supervisor; do
  cmp -s "$release_dir/$bin" "/usr/local/bin/$bin" && continue
  install -m 0755 "$release_dir/$bin" "/usr/local/bin/.$bin.new"
  mv -f "/usr/local/bin/.$bin.new" "/usr/local/bin/$bin"
done
log "installed /usr/local/bin/berth, /usr/local/bin/berthd and /usr/local/bin/berth-supervisor"

man_dir=/usr/local/share/man/man1
mkdir -p "$man_dir"
/usr/local/bin/berth __man "$man_dir"
mandb -q || log "mandb failed; man pages are in $man_dir"
log "man pages in $man_dir"

# --- berthd -----------------------------------------------------------------------------
host=unix:///run/berth/berth.sock
berth() { /usr/local/bin/berth -H "$host" "$@"; }
daemon_answers() { berth version >/dev/null 2>&1; }

# A berthd left running from an earlier setup keeps its old binary; restart it so the one
# just installed is in use. Its containers survive: berthd restores them when it comes back.
restart_stale_daemon() {
  local dir pid
  for dir in /proc/[0-9]*; do
    pid=${dir#/proc/}
    [ "$(readlink "$dir/exe" 2>/dev/null)" = "/usr/local/bin/berthd (deleted)" ] || continue
    # A supervisor started by an older berthd is that binary too (`berthd supervise`); only
    # the daemon is restarted. Supervisors keep their containers and exit once they have none.
    tr '\0' ' ' <"$dir/cmdline" 2>/dev/null | grep -q '^[^ ]* supervise' && continue
    log "stopping berthd $pid (its binary was replaced)"
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 1 300); do
      [ -e "$dir" ] || break
      sleep 0.1
    done
  done
}
restart_stale_daemon

if ! daemon_answers; then
  log "starting berthd (log: /var/log/berthd.log)"
  mkdir -p /run/berth
  setsid /usr/local/bin/berthd --host "$host" </dev/null >>/var/log/berthd.log 2>&1 &
  for _ in $(seq 1 300); do
    daemon_answers && break
    sleep 0.1
  done
  if ! daemon_answers; then
    echo "berthd did not answer on $host within 30 s; last lines of /var/log/berthd.log:" >&2
    tail -n 20 /var/log/berthd.log >&2 || true
    exit 1
  fi
fi
log "berthd answers on $host"

# --- busybox image and a first container --------------------------------------------------
# Each import makes a new image (its config records when), so an image made by an earlier run
# is kept rather than replaced by a copy.
if ! berth image inspect busybox >/dev/null 2>&1; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  bash "$repo/scripts/make-busybox-rootfs.sh" "$work/busybox.tar"
  berth import "$work/busybox.tar" busybox
fi
# The first container is a web server on the default bridge, published on the host's port
# 8080 (every address, 127.0.0.1 included) by a kernel DNAT rule, no proxy process.
berth rm -f hello-web >/dev/null 2>&1 || true
berth run -d --name hello-web -p 8080:80 busybox \
  sh -c 'mkdir -p /www && echo "hello from berth" > /www/index.html && exec httpd -f -p 80 -h /www' \
  >/dev/null
answer=""
for _ in $(seq 1 50); do
  if exec 3<>/dev/tcp/127.0.0.1/8080 2>/dev/null; then
    printf 'GET /index.html HTTP/1.0\r\n\r\n' >&3
    answer=$(cat <&3)
    exec 3<&-
    [[ $answer == *"hello from berth"* ]] && break
  fi
  sleep 0.1
done
if [[ $answer != *"hello from berth"* ]]; then
  echo "the container hello-web does not answer on 127.0.0.1:8080" >&2
  exit 1
fi
log "hello-web answers: curl http://localhost:8080/ (remove it with: berth rm -f hello-web)"
