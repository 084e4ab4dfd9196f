# Sourced by the e2e benches: putting the machine's firewall back as it was before a run.
# shellcheck shell=bash

# berthd's accept rule in iptables' and ip6tables' FORWARD outlives it, as its nft table does.
forget_forward_rule() { # TABLE
  local tool
  for tool in iptables ip6tables; do
    command -v "$tool" >/dev/null || continue
    while "$tool" -w -D FORWARD -m mark --mark 0x1000000/0x1000000 -m comment \
      --comment "berth $1" -j ACCEPT 2>/dev/null; do :; done
  done
}

# Docker (and podman's CNI bridge) add iptables rules and set a DROP forward policy; put the
# tables back as $IPTABLES_BEFORE (iptables-save before dockerd started) had them. A table
# that did not exist then is emptied and its built-in chains set back to ACCEPT.
restore_iptables() {
  local now t
  now=$(iptables-save 2>/dev/null) || return 0
  [ "$(grep -v '^#' <<<"$now")" = "$(grep -v '^#' <<<"$IPTABLES_BEFORE")" ] && return 0
  for t in $(sed -n 's/^\*//p' <<<"$now"); do
    grep -qx "\*$t" <<<"$IPTABLES_BEFORE" && continue
    iptables -t "$t" -F && iptables -t "$t" -X
    iptables -t "$t" -S | awk '$1=="-P"{print $2}' | while read -r chain; do iptables -t "$t" -P "$chain" ACCEPT; done
  done
  grep -q '^\*' <<<"$IPTABLES_BEFORE" && iptables-restore <<<"$IPTABLES_BEFORE"
}
