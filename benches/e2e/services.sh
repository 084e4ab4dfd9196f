# Volume and healthcheck figures of the end-to-end harness (issue 10, "Performance"); sourced
# by run.sh, which owns the engines, the rounds, the samples and the tables.
#
# - volumes: SVC_N sequential `create busybox true`, then SVC_N sequential `create -v
#   NAME:/data busybox true`, each with a volume of its own that does not exist yet (so each
#   create makes one); the per-container cost of each and their ratio (the issue's ≤ 2×).
#   Then the same containers are started (`start` of all in one call) to count the mounts'
#   cost too, and everything, volumes included, is removed.
# - healthchecks: HEALTH_N idle containers (HEALTH_DOCKER_N under Docker, whose per-container
#   processes would not fit HEALTH_N on this machine) with `--health-cmd true
#   --health-interval 1s`; once every one is healthy, the CPU time of the engine's processes
#   (berth: berthd and the supervisor; Docker: dockerd, containerd and the shims) over
#   HEALTH_SECONDS, as % of one CPU (the checks' own processes, `true` in each container,
#   are not the engine's). The same engine idle with as many containers and no healthcheck is
#   the density run's d_idle_cpu. "fresh" counts the containers whose last check ended within
#   3 s of the window's end, so that a schedule which fell behind cannot pass for a cheap one.

SVC_FIGURES=(
  "v_create|\`create busybox true\`, per container ($SVC_N sequential)|ms|lower"
  "v_create_vol|\`create -v NEW-VOLUME:/data busybox true\`, per container ($SVC_N sequential)|ms|lower"
  "v_ratio|with a new volume ÷ without (goal ≤ 2)|×|lower"
  "v_start|\`start\` of the $SVC_N plain containers in one call, per container|ms|lower"
  "v_start_vol|\`start\` of the $SVC_N containers with a volume in one call, per container|ms|lower"
  "h_cpu|engine CPU with healthchecks every 1 s on N containers (% of one CPU)|%|lower"
  "h_fresh|containers whose last check ended ≤ 3 s before the window's end|% of N|higher"
)

svc_names() { local i; for i in $(seq "$2"); do printf '%s-%s ' "$1" "$i"; done; }

# per_container_ms SECONDS COUNT
per_container_ms() { awk -v s="$1" -v n="$2" 'BEGIN{printf "%.2f", 1000*s/n}'; }

one_volumes() {
  local eng=$1 s plain vol i
  remove_all_containers "$eng"
  e "$eng" volume prune -af >/dev/null 2>&1 || e "$eng" volume prune -f >/dev/null 2>&1 || true
  s=$EPOCHREALTIME
  for i in $(seq "$SVC_N"); do
    e "$eng" create --label "$LABEL" --name "e2e-p-$i" busybox true >/dev/null 2>>"$T/errors.log" ||
      { log "$eng: create e2e-p-$i failed"; return 1; }
  done
  plain=$(elapsed "$s")
  s=$EPOCHREALTIME
  for i in $(seq "$SVC_N"); do
    e "$eng" create --label "$LABEL" --name "e2e-v-$i" -v "e2e-vol-$i:/data" busybox true \
      >/dev/null 2>>"$T/errors.log" || { log "$eng: create e2e-v-$i with a volume failed"; return 1; }
  done
  vol=$(elapsed "$s")
  local n_vols
  n_vols=$(e "$eng" volume ls -q --filter name=e2e-vol- | wc -l)
  [ "$n_vols" -ge "$SVC_N" ] || { log "$eng: $n_vols volumes after $SVC_N creates"; return 1; }
  add v_create "$eng" "$(per_container_ms "$plain" "$SVC_N")"
  add v_create_vol "$eng" "$(per_container_ms "$vol" "$SVC_N")"
  add v_ratio "$eng" "$(awk -v a="$vol" -v b="$plain" 'BEGIN{printf "%.2f", a/b}')"
  # shellcheck disable=SC2046
  s=$EPOCHREALTIME; e "$eng" start $(svc_names e2e-p "$SVC_N") >/dev/null 2>>"$T/errors.log" || return 1
  add v_start "$eng" "$(per_container_ms "$(elapsed "$s")" "$SVC_N")"
  # shellcheck disable=SC2046
  s=$EPOCHREALTIME; e "$eng" start $(svc_names e2e-v "$SVC_N") >/dev/null 2>>"$T/errors.log" || return 1
  add v_start_vol "$eng" "$(per_container_ms "$(elapsed "$s")" "$SVC_N")"
  remove_all_containers "$eng"
  # shellcheck disable=SC2046
  e "$eng" volume rm $(svc_names e2e-vol "$SVC_N") >/dev/null 2>>"$T/errors.log" ||
    { log "$eng: volume rm of the bench's volumes failed"; return 1; }
}

# The newest Health.Log entry's End of each container, as seconds since the epoch (RFC 3339
# with nanoseconds, as Docker writes it; the fraction is dropped).
health_last_ends() { # ENGINE NAMES...
  local eng=$1; shift
  e "$eng" inspect "$@" | jq -r '.[] | .State.Health.Log[-1].End // empty
    | sub("\\.[0-9]+"; "") | sub("(?<z>[+-][0-9]{2}):?(?<m>[0-9]{2})$"; "\(.z)\(.m)") | sub("Z$"; "+0000")
    | strptime("%Y-%m-%dT%H:%M:%S%z") | mktime'
}

one_health() {
  local eng=$1 n=$HEALTH_N i s healthy t0 t1 now fresh
  [ "$eng" = berth ] || n=$HEALTH_DOCKER_N
  remove_all_containers "$eng"
  s=$EPOCHREALTIME
  for i in $(seq "$n"); do
    e "$eng" run -d --label "$LABEL" --name "e2e-h-$i" --health-cmd true --health-interval 1s \
      --health-retries 3 busybox sleep 100000 >/dev/null 2>>"$T/errors.log" ||
      { log "$eng: run -d e2e-h-$i failed: $(grep -v "^Run '" "$T/errors.log" | tail -1)"; return 1; }
  done
  log "$eng: $n containers with a 1 s healthcheck started in $(elapsed "$s")s"
  for i in $(seq 120); do
    healthy=$(e "$eng" ps -q --filter health=healthy | wc -l)
    [ "$healthy" -ge "$n" ] && break
    sleep 1
  done
  [ "$healthy" -ge "$n" ] || { log "$eng: only $healthy of $n healthy after 120 s"; return 1; }
  t0=$(cpu_ticks "$eng"); sleep "$HEALTH_SECONDS"; t1=$(cpu_ticks "$eng")
  now=$(date +%s)
  local cpu
  cpu=$(awk -v a="$t0" -v b="$t1" -v hz="$(getconf CLK_TCK)" -v s="$HEALTH_SECONDS" 'BEGIN{printf "%.2f", 100*(b-a)/hz/s}')
  add h_cpu "$eng" "$cpu"
  # shellcheck disable=SC2046
  fresh=$(health_last_ends "$eng" $(svc_names e2e-h "$n") | awk -v now="$now" '$1 >= now - 3 {f++} END{print f+0}')
  add h_fresh "$eng" "$(awk -v f="$fresh" -v n="$n" 'BEGIN{printf "%.1f", 100*f/n}')"
  log "$eng: healthchecks on $n: engine CPU $cpu%, $fresh fresh"
  remove_all_containers "$eng"
}
