#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for SECONDS each, one after another, starting from
# its seeds in fuzz/seeds/. CI runs it for a few seconds each (scripts/test.sh); the long
# runs whose figures the README records use the same script with a longer time.
#
#   scripts/fuzz.sh SECONDS [TARGET...]
#
# Environment:
#   FUZZ_WORK     where corpora, crash artifacts and logs go (default: a temporary
#                 directory, deleted at the end unless a target crashed). New inputs never
#                 land in fuzz/seeds/, so the corpus stays out of git.
#   FUZZ_SANITIZER  passed to `cargo fuzz build --sanitizer` (default: address).
#   FUZZ_DEV=1    builds without optimizations (`cargo fuzz build --dev`): a faster build and
#                 slower runs, for CI's short runs on the seeds.
#
# Needs the nightly toolchain and cargo-fuzz; installs what is missing, and fails (never
# skips) when it cannot. Exits non-zero when any target crashed, printing the input.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { echo "[fuzz] $*" >&2; }

seconds=${1:?usage: scripts/fuzz.sh SECONDS [TARGET...]}
shift
sanitizer=${FUZZ_SANITIZER:-address}

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  log "installing the nightly toolchain (cargo-fuzz needs it)"
  rustup toolchain install nightly --profile minimal || {
    log "FAILED: the nightly toolchain cannot be installed; the fuzz targets cannot be built"
    exit 1
  }
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  log "installing cargo-fuzz"
  cargo install --locked cargo-fuzz || {
    log "FAILED: cargo-fuzz cannot be installed"
    exit 1
  }
fi

# Every target's seeds, by the directory of fuzz/seeds/ it starts from (none: it starts
# from an empty input).
seeds_of() {
  case $1 in
    tar_extract | tar_extract_uring) echo tar ;;
    api_bodies) echo api ;;
    dockerfile) echo dockerfile ;;
    dns_query) echo dns ;;
    *) echo "" ;;
  esac
}
# libFuzzer options a target needs beyond the time.
options_of() {
  case $1 in
    dns_query) echo "-max_len=4096" ;;
    *) echo "" ;;
  esac
}

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cd fuzz && cargo +nightly fuzz list)
fi

build=(--sanitizer "$sanitizer")
bin_dir=fuzz/target/x86_64-unknown-linux-gnu/release
if [ "${FUZZ_DEV:-}" = 1 ]; then
  build+=(--dev)
  bin_dir=fuzz/target/x86_64-unknown-linux-gnu/debug
fi
log "building ${targets[*]} (${build[*]})"
(cd fuzz && cargo +nightly fuzz build "${build[@]}")

own_work=
if [ -z "${FUZZ_WORK:-}" ]; then
  FUZZ_WORK=$(mktemp -d /tmp/berth-fuzz.XXXXXX)
  own_work=1
fi
mkdir -p "$FUZZ_WORK"

crashed=()
for target in "${targets[@]}"; do
  corpus=$FUZZ_WORK/corpus/$target
  artifacts=$FUZZ_WORK/artifacts/$target
  # Targets that need files (tar_extract's scene) make them under the temporary directory:
  # the work directory's, so that they go with it.
  scratch=$FUZZ_WORK/tmp/$target
  mkdir -p "$corpus" "$artifacts" "$scratch"
  args=("$corpus")
  seeds=$(seeds_of "$target")
  [ -n "$seeds" ] && args+=("fuzz/seeds/$seeds")
  read -r -a extra <<<"$(options_of "$target")"
  log "$target: ${seconds}s from ${seeds:-no seeds}"
  # -print_final_stats gives the figures the README records: execs, exec/s, coverage.
  if TMPDIR=$scratch "$bin_dir/$target" "${args[@]}" "${extra[@]}" \
    -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="$artifacts/" >"$FUZZ_WORK/$target.log" 2>&1; then
    grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::average_exec_per_sec)' \
      "$FUZZ_WORK/$target.log" | tr '\n' ' ' >&2
    echo "corpus=$(find "$corpus" -type f | wc -l)" >&2
  else
    log "$target: CRASHED (inputs in $artifacts)"
    tail -n 60 "$FUZZ_WORK/$target.log" >&2
    crashed+=("$target")
  fi
done

if [ ${#crashed[@]} -gt 0 ]; then
  log "crashed: ${crashed[*]}; logs and inputs kept in $FUZZ_WORK"
  exit 1
fi
[ -n "$own_work" ] && rm -rf "$FUZZ_WORK"
log "no target crashed"
