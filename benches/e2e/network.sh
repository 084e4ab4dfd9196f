# Networking figures of the end-to-end harness (issue 9, "Performance"); sourced by run.sh,
# which owns the engines, the rounds, the samples and the tables. Every byte stays on this
# machine: the host's loopback and the engines' bridges.
#
# - concurrent starts: NET_CONC `run --rm busybox true` at once on the default bridge, wall
#   time of the lot, beside the single run's median (a start that queued behind another's
#   network set-up would take NET_CONC times as long).
# - TCP throughput (iperf3, NET_SECS seconds) and small-request rate (ab against busybox
#   httpd, NET_REQS requests, NET_CONC_REQ at a time) to a container, directly to its bridge
#   address and through a port published on 127.0.0.1; "published / direct" is the issue's
#   ≥ 90 % figure.
# - published ports' cost: one container publishing NET_PORTS ports (a range) on 127.0.0.1:
#   the time of that `run -d`, and the Δ RSS and Δ process count of the engine's processes
#   (daemon, shims/monitors, Docker's docker-proxy) per port.
# - density (berth only, NET_DENSITY containers on the default bridge): every container is
#   pinged from the host and from one peer container; `ps` and `inspect` of NET_PS of them,
#   beside the same with NET_PS `--network none` containers.
#
# The image "net" is the busybox rootfs plus the host's iperf3 and the libraries it links
# (ldd), and a 100-byte /www/index.html for httpd.

NET_FIGURES=(
  "n_conc|$NET_CONC concurrent \`run --rm busybox true\`, default bridge, wall time of all|ms|lower"
  "n_conc_x|the same ÷ one \`run --rm\` (1 = fully parallel, $NET_CONC = serialized)|×|lower"
  "n_tput_direct|TCP throughput host → container address (iperf3, ${NET_SECS}s)|Gbit/s|higher"
  "n_tput_pub|TCP throughput host → 127.0.0.1 published port|Gbit/s|higher"
  "n_tput_ratio|published / direct throughput|%|higher"
  "n_rps_direct|small requests/s host → container address (ab -c $NET_CONC_REQ, busybox httpd)|req/s|higher"
  "n_rps_pub|small requests/s host → 127.0.0.1 published port|req/s|higher"
  "n_rps_ratio|published / direct request rate|%|higher"
  "n_ports_run|\`run -d -p 127.0.0.1:RANGE\` of $NET_PORTS ports|s|lower"
  "n_ports_rss|memory per published port: Δ RSS of daemon + shims/monitors/proxies / $NET_PORTS|kB|lower"
  "n_ports_procs|processes per published port: Δ count / $NET_PORTS|processes|lower"
)
NET_DENSITY_FIGURES=(
  "nd_start|start $NET_DENSITY idle \`run -d busybox sleep\` on the default bridge, total|s|lower"
  "nd_rate|start rate|containers/s|higher"
  "nd_routed|of them past the bridge's port limit (routed)|containers|higher"
  "nd_host|answering ping from the host|containers|higher"
  "nd_peer|answering ping from a peer container|containers|higher"
  "nd_ps_net|\`ps\` with $NET_PS running on the bridge|ms|lower"
  "nd_inspect_net|\`inspect\` of $NET_PS on the bridge, one call|ms|lower"
  "nd_ps_none|\`ps\` with $NET_PS running, \`--network none\`|ms|lower"
  "nd_inspect_none|\`inspect\` of $NET_PS, \`--network none\`, one call|ms|lower"
  "nd_ps_all|\`ps\` with $NET_DENSITY running on the bridge|ms|lower"
)

net_build_image() {
  local d=$T/netimg lib
  rm -rf "$d"; mkdir -p "$d/bin" "$d/www"
  cp -L /usr/bin/iperf3 "$d/bin/iperf3"
  for lib in $(ldd /usr/bin/iperf3 | awk '$2 == "=>" {print $3} $1 ~ /^\// {print $1}'); do
    mkdir -p "$d$(dirname "$lib")"
    cp -L "$lib" "$d$lib"
  done
  head -c 100 /dev/zero | tr '\0' x >"$d/www/index.html"
  cp "$T/busybox.tar" "$T/net.tar"
  # members only: a second entry for a directory the busybox tar has (bin/) is refused by
  # Docker's import ("duplicates of file paths not supported")
  (cd "$d" && find . -mindepth 1 ! -path ./bin | sed 's|^\./||' | sort) >"$T/net-files.txt"
  tar -C "$d" -rf "$T/net.tar" --owner=0 --group=0 --no-recursion --files-from "$T/net-files.txt"
  rm -rf "$d"
}

net_import_image() {
  e "$1" import --change 'CMD ["/bin/sh"]' "$T/net.tar" net:latest >/dev/null
}

net_ip() { e "$1" inspect -f '{{.NetworkSettings.IPAddress}}' "$2"; }

docker_proxy_pids() {
  local p
  for p in /proc/[0-9]*; do
    [ "$(cat "$p/comm" 2>/dev/null)" = docker-proxy ] &&
      [ "$(awk '{print $4}' "$p/stat" 2>/dev/null)" = "$DOCKERD_PID" ] && echo "${p#/proc/}"
  done
  return 0
}
net_infra_pids() { infra_pids "$1"; [ "$1" != docker ] || docker_proxy_pids; }

# Each engine publishes in a host port range of its own, so a leftover never collides.
net_port_base() {
  case $1 in berth) echo 20000 ;; docker) echo 22000 ;; podman) echo 24000 ;; esac
}

one_net_conc() {
  local eng=$1 s i pids=() single
  s=$EPOCHREALTIME
  for i in $(seq "$NET_CONC"); do
    e "$eng" run --rm busybox true >/dev/null 2>>"$T/errors.log" &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || { log "$eng: a concurrent run --rm failed"; return 1; }; done
  local ms; ms=$(awk -v s="$s" -v e="$EPOCHREALTIME" 'BEGIN{printf "%.1f", (e-s)*1000}')
  add n_conc "$eng" "$ms"
  single=$(summary run_rm "$eng")
  [ -z "$single" ] || [[ $single == n/a* ]] ||
    add n_conc_x "$eng" "$(awk -v a="$ms" -v b="${single%% *}" 'BEGIN{printf "%.2f", a/b}')"
}

# iperf3 -J: bits per second the receiver counted
iperf_gbits() {
  iperf3 -J -c "$1" -p "$2" -t "$NET_SECS" 2>>"$T/errors.log" |
    jq -e '.end.sum_received.bits_per_second / 1e9' 2>>"$T/errors.log"
}
ab_rps() {
  ab -q -n "$NET_REQS" -c "$NET_CONC_REQ" "http://$1:$2/index.html" 2>>"$T/errors.log" |
    awk '/^Requests per second:/ {print $4; f=1} /^Failed requests:/ && $3 != 0 {bad=1} END{exit (!f || bad)}'
}

one_net_traffic() {
  local eng=$1 base ip d p r1 r2
  base=$(net_port_base "$eng")
  e "$eng" rm -f e2e-net >/dev/null 2>&1 || true
  e "$eng" run -d --label "$LABEL" --name e2e-net -p "127.0.0.1:$base:5201" -p "127.0.0.1:$((base + 1)):80" \
    net sh -c 'httpd -p 80 -h /www && exec iperf3 -s -p 5201' >/dev/null 2>>"$T/errors.log" || return 1
  ip=$(net_ip "$eng" e2e-net) && [ -n "$ip" ] || { log "$eng: no address for e2e-net"; return 1; }
  wait_for 10 bash -c "(exec 3<>/dev/tcp/$ip/5201)" || { log "$eng: iperf3 in e2e-net does not answer"; return 1; }
  # direct and published alternate, so drift falls on both
  d=$(iperf_gbits "$ip" 5201) || { log "$eng: iperf3 to $ip failed"; return 1; }
  p=$(iperf_gbits 127.0.0.1 "$base") || { log "$eng: iperf3 to 127.0.0.1:$base failed"; return 1; }
  add n_tput_direct "$eng" "$d"; add n_tput_pub "$eng" "$p"
  add n_tput_ratio "$eng" "$(awk -v a="$p" -v b="$d" 'BEGIN{printf "%.1f", 100*a/b}')"
  r1=$(ab_rps "$ip" 80) || { log "$eng: ab to $ip:80 failed"; return 1; }
  r2=$(ab_rps 127.0.0.1 $((base + 1))) || { log "$eng: ab to 127.0.0.1:$((base + 1)) failed"; return 1; }
  add n_rps_direct "$eng" "$r1"; add n_rps_pub "$eng" "$r2"
  add n_rps_ratio "$eng" "$(awk -v a="$r2" -v b="$r1" 'BEGIN{printf "%.1f", 100*a/b}')"
  e "$eng" rm -f e2e-net >/dev/null
}

procs_rss() { # -> "count rss_kb" of the engine's processes
  local pids; pids=$(net_infra_pids "$1" | grep . | tr '\n' ' ')
  # shellcheck disable=SC2086
  echo "$(wc -w <<<"$pids") $(sum_kb VmRSS status $pids)"
}

one_net_ports() {
  local eng=$1 base n0 r0 n1 r1 s
  base=$(($(net_port_base "$eng") + 100))
  e "$eng" rm -f e2e-ports >/dev/null 2>&1 || true
  sync; sleep "$SETTLE"
  read -r n0 r0 <<<"$(procs_rss "$eng")"
  s=$EPOCHREALTIME
  e "$eng" run -d --label "$LABEL" --name e2e-ports \
    -p "127.0.0.1:$base-$((base + NET_PORTS - 1)):$base-$((base + NET_PORTS - 1))" \
    busybox sleep 100000 >/dev/null 2>>"$T/errors.log" || { log "$eng: run -d with $NET_PORTS ports failed"; return 1; }
  add n_ports_run "$eng" "$(elapsed "$s")"
  sleep "$SETTLE"
  read -r n1 r1 <<<"$(procs_rss "$eng")"
  add n_ports_rss "$eng" "$(awk -v a="$r1" -v b="$r0" -v n="$NET_PORTS" 'BEGIN{printf "%.2f", (a-b)/n}')"
  add n_ports_procs "$eng" "$(awk -v a="$n1" -v b="$n0" -v n="$NET_PORTS" 'BEGIN{printf "%.3f", (a-b)/n}')"
  e "$eng" rm -f e2e-ports >/dev/null
}

# pings from the host: fping when there is one, else one ping each
ping_count_host() { # IPS-FILE -> how many answered
  if command -v fping >/dev/null; then
    fping -a -r 2 -t 500 <"$1" 2>/dev/null | wc -l
  else
    local n=0 ip
    while read -r ip; do ping -c1 -W1 "$ip" >/dev/null 2>&1 && n=$((n + 1)); done <"$1"
    echo "$n"
  fi
}

net_density() {
  local eng=berth total i ip ips=$T/density-ips peer
  remove_all_containers "$eng"
  total=$(start_many "$eng" "$NET_PS") || return 1
  timed_runs nd_ps_net "$eng" "$RUNS" ps || return 1
  # shellcheck disable=SC2046
  timed_runs nd_inspect_net "$eng" 3 inspect $(names "$NET_PS") || return 1
  local s=$EPOCHREALTIME
  for i in $(seq $((NET_PS + 1)) "$NET_DENSITY"); do
    e "$eng" run -d --label "$LABEL" --name "e2e-$i" busybox sleep 100000 >/dev/null 2>>"$T/errors.log" ||
      { log "$eng: run -d e2e-$i failed: $(grep -v "^Run '" "$T/errors.log" | tail -1)"; return 1; }
  done
  total=$(awk -v a="$total" -v b="$(elapsed "$s")" 'BEGIN{printf "%.3f", a+b}')
  add nd_start "$eng" "$total"
  add nd_rate "$eng" "$(awk -v n="$NET_DENSITY" -v t="$total" 'BEGIN{printf "%.2f", n/t}')"
  log "density on the bridge: $NET_DENSITY started in ${total}s"
  # shellcheck disable=SC2046
  e "$eng" inspect -f '{{.NetworkSettings.IPAddress}}' $(names "$NET_DENSITY") >"$ips" || return 1
  [ "$(grep -c . "$ips")" = "$NET_DENSITY" ] || { log "not every container has an address"; return 1; }
  add nd_routed "$eng" "$(ip -o link show master "$BERTH_BRIDGE" | wc -l | awk -v n="$NET_DENSITY" '{print n-$1}')"
  add nd_host "$eng" "$(ping_count_host "$ips")"
  # the peer: a container started last, pinging every other one (and itself)
  peer=e2e-$NET_DENSITY
  add nd_peer "$eng" "$(e "$eng" exec -i "$peer" sh -c \
    'n=0; while read ip; do ping -c1 -W1 "$ip" >/dev/null 2>&1 && n=$((n+1)); done; echo $n' <"$ips")"
  timed_runs nd_ps_all "$eng" "$RUNS" ps || return 1
  s=$EPOCHREALTIME
  remove_all_containers "$eng"
  log "density on the bridge: removed $NET_DENSITY in $(elapsed "$s")s"
  s=$EPOCHREALTIME
  for i in $(seq "$NET_PS"); do
    e "$eng" run -d --network none --label "$LABEL" --name "e2e-$i" busybox sleep 100000 >/dev/null 2>>"$T/errors.log" ||
      { log "$eng: run -d --network none e2e-$i failed"; return 1; }
  done
  timed_runs nd_ps_none "$eng" "$RUNS" ps || return 1
  # shellcheck disable=SC2046
  timed_runs nd_inspect_none "$eng" 3 inspect $(names "$NET_PS") || return 1
  remove_all_containers "$eng"
  rm -f "$ips"
}
