# shellcheck shell=bash
# Sourced by setup.sh and test.sh for the preparation they share. The sourcing script
# defines log().

# Installs those of the Debian packages "$@" that are not installed yet.
install_missing_packages() {
  export DEBIAN_FRONTEND=noninteractive
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
  fi
}

# Puts rustup's cargo on PATH when a non-login shell lacks it.
add_rustup_cargo_to_path() {
  if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
}
