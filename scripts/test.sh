#!/usr/bin/env bash
# Run every check of the project, as root: formatting, clippy, the unit tests and the
# integration tests in tests/ (real containers, driven through berth and the docker CLI).
# Every step runs even when an earlier one failed; the exit status is non-zero if any failed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "test.sh must run as root (the integration tests start real containers)" >&2
  exit 1
fi

log() { echo "[test] $*" >&2; }
# shellcheck source=scripts/common.sh
source scripts/common.sh

# --- what the tests need at run time -------------------------------------------------------
# busybox-static for the image fixture, man-db for the man page tests, tmux for the terminal
# tests, docker-registry, skopeo and openssl for the registry tests (a registry, image
# conversions and a test CA), iproute2 for the network stats test, nftables (`nft`) for
# berth-network's firewall; docker-compose (1.29, Debian's) for the compose tests; docker-py for the
# client-library tests; strace for the supervisor-death test (it holds the supervisor's answers).
packages=(busybox-static man-db tmux docker-registry skopeo openssl iproute2 nftables xz-utils bzip2 zstd strace docker-compose)
install_missing_packages "${packages[@]}"

if ! python3 -c 'import docker' >/dev/null 2>&1; then
  log "installing docker-py"
  python3 -m pip install docker || python3 -m pip install --break-system-packages docker
fi
# schemathesis for tests/tests/schemathesis.rs (the API against moby's swagger.yaml).
if ! command -v schemathesis >/dev/null 2>&1; then
  log "installing schemathesis"
  python3 -m pip install schemathesis || python3 -m pip install --break-system-packages schemathesis
fi

add_rustup_cargo_to_path

# --- checks -------------------------------------------------------------------------------
failed=()
step() {
  local name=$1
  shift
  log "$name: $*"
  if "$@"; then
    log "$name: ok"
  else
    log "$name: FAILED"
    failed+=("$name")
  fi
}

step fmt cargo fmt --all --check
# The integration tests run the berth and berthd binaries, which `cargo test` does not build
# for another crate's tests.
step build cargo build --bins
step clippy cargo clippy --workspace --all-targets -- -D warnings
# Most integration tests wait on containers and daemons rather than compute, so they are run
# with more threads than the two cores, but not many more: the terminal and stats tests are
# sensitive to a starved scheduler. Every test binary runs even after one fails, so a run
# reports every failure.
step test env RUST_TEST_THREADS="${RUST_TEST_THREADS:-3}" cargo test --workspace --no-fail-fast
# Every cargo-fuzz target for a short time on its seeds (nightly; an unoptimized build without
# sanitizer is the quickest to build, and the seeds are what a short run can cover).
step fuzz env FUZZ_DEV=1 FUZZ_SANITIZER=none bash scripts/fuzz.sh "${FUZZ_SECONDS:-15}"

if [ ${#failed[@]} -gt 0 ]; then
  log "failed: ${failed[*]}"
  exit 1
fi
log "all checks passed"
