#!/usr/bin/env bash
# Measures nomnom beside its baselines in one run on one machine, and prints
# each target as "target / measured / ok|MISSED":
#   (a) nats bench js pub async, 256-byte messages, on the same NATS server
#   (b) a trivial HTTP 202 server (nomnom bench baseline-http)
#   (c) PostgreSQL COPY of the example's rows, and a worker draining a
#       backlog of 21,000 orders into the same tables (Go benchmarks of
#       examples/tpch, in one run)
#   (d) the gateway: /ingest/message at 64 connections, /ingest/batch of 100
#       lines, and p99 at a fixed 2,000 msgs/s
#   (e) gateway + tpch-worker end to end with the sample orders, at a fixed
#       rate and at max; peak RSS (VmHWM) of gateway and worker
# Results also go to bench-results.json. Everything it starts (NATS server,
# database, processes) it removes on exit.
#
# Environment:
#   BIN                 binaries (default bin; `make bench` builds them)
#   BENCH_DURATION      length of each load phase (default 10s)
#   BENCH_NATS_URL      reuse this NATS server instead of starting one
#                       (its own stream, bucket and consumer names are used
#                       and removed afterwards)
#   BENCH_NATS_MSGS     messages of the nats bench baseline (default 300000)
#   DATABASE_URL        its server part is used (default
#                       postgres://postgres@127.0.0.1:5432); the database is
#                       always a fresh nomnom_bench_<pid>
#   BENCH_E2E_RATE      fixed rate of the end-to-end latency phase (1000)
#   BENCH_DRAIN_ROUNDS  rounds of 300 orders in the worker's backlog (70)
#   BENCH_RESULTS       where to write the JSON results (bench-results.json)
set -euo pipefail

BIN=${BIN:-bin}
DUR=${BENCH_DURATION:-10s}
NATS_MSGS=${BENCH_NATS_MSGS:-300000}
E2E_RATE=${BENCH_E2E_RATE:-1000}
RESULTS=${BENCH_RESULTS:-bench-results.json}
ORDERS=${BENCH_ORDERS_FILE:-examples/tpch/testdata/orders.ndjson}
NATSCLI_VERSION=v0.5.0

tag=$$
tmp=$(mktemp -d -t nomnom-bench.XXXXXX)
pids=()
nats_url=
natscli=
db_url=
db_admin_url=
db_name=nomnom_bench_$tag

log() { printf 'bench: %s\n' "$*" >&2; }

# stop_pid ends one process this script started and waits for it.
stop_pid() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  set +e
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do stop_pid "${pids[i]}"; done
  if [[ -n ${BENCH_NATS_URL:-} && -n $natscli ]]; then
    for s in "NBENCH$tag" "GW$tag" "GW${tag}_DLQ" "E2E$tag" "E2E${tag}_DLQ" "KV_GWS$tag" "KV_E2ES$tag"; do
      "$natscli" -s "$nats_url" stream rm -f "$s" >/dev/null 2>&1
    done
  fi
  if [[ -n $db_admin_url ]]; then
    psql -q "$db_admin_url" -c "DROP DATABASE IF EXISTS $db_name WITH (FORCE)" >/dev/null 2>&1 ||
      log "could not drop database $db_name"
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- helpers ---------------------------------------------------------------

# free_port prints a TCP port nothing listens on at 127.0.0.1.
free_port() {
  local port
  for _ in $(seq 50); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  log "no free port found"
  return 1
}

# wait_http waits until url answers 200.
wait_http() {
  local what=$1 url=$2
  for _ in $(seq 300); do
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  log "$what did not answer at $url"
  return 1
}

# csv_get prints column $2 of the data row of the CSV file $1.
csv_get() {
  awk -F, -v col="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i } NR == 2 && c { print $c }' "$1"
}

# vmhwm prints a process's peak resident set in MB (0 when it is gone).
vmhwm() {
  awk '/^VmHWM:/ { printf "%.1f", $2 / 1024; found = 1 } END { if (!found) print 0 }' "/proc/$1/status" 2>/dev/null || echo 0
}

# CPU accounting: while a phase runs, the CPU time of the processes named
# in watched (label:pid) and of the load generator itself is measured, and
# written to $tmp/NAME.cpu as "label seconds" lines. Divided by the messages
# accepted it says where each message's CPU goes, which is what bounds the
# ratios on a machine whose cores everything shares.
watched=()

# ticks prints a process's user + system CPU in clock ticks (0 when gone).
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# timed NAME CMD... runs CMD, recording the CPU the watched processes and
# CMD itself used meanwhile in $tmp/NAME.cpu; CMD's stdout goes to stdout.
timed() {
  local name=$1 w hz
  shift
  hz=$(getconf CLK_TCK)
  local -A before=()
  for w in "${watched[@]}"; do before[$w]=$(ticks "${w#*:}"); done
  local rc=0
  # `times` prints the shell's, then its children's, user and system time.
  (
    rc=0
    "$@" || rc=$?
    times >"$tmp/$name.times"
    exit "$rc"
  ) || rc=$?
  {
    for w in "${watched[@]}"; do
      awk -v l="${w%%:*}" -v a="${before[$w]}" -v b="$(ticks "${w#*:}")" -v hz="$hz" 'BEGIN { printf "%s %.2f\n", l, (b - a) / hz }'
    done
    awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, p, /m|s/); t += p[1] * 60 + p[2] } printf "client %.2f\n", t }' "$tmp/$name.times"
  } >"$tmp/$name.cpu"
  return "$rc"
}

# run_bench NAME ARGS... runs nomnom bench with --csv, saving the CSV as
# $tmp/NAME.csv and the JSON report as $tmp/NAME.json.
run_bench() {
  local name=$1
  shift
  log "phase $name: nomnom bench $*"
  if ! timed "$name" "$BIN/nomnom" bench --csv --save "$tmp/$name.json" "$@" >"$tmp/$name.csv"; then
    log "  phase $name failed"
    return 0
  fi
  local errors
  errors=$(csv_get "$tmp/$name.csv" errors)
  log "  $(csv_get "$tmp/$name.csv" accepted) accepted, $(csv_get "$tmp/$name.csv" msgs_per_s) msgs/s, p99 $(csv_get "$tmp/$name.csv" p99_ms) ms${errors:+, errors $errors}"
}

# cpu_per_msg NAME LABEL MSGS prints LABEL's CPU in phase NAME per message,
# in microseconds, or ? when unknown.
cpu_per_msg() {
  local s
  s=$(awk -v l="$2" '$1 == l { print $2 }' "$tmp/$1.cpu" 2>/dev/null)
  if [[ -n $s && -n $3 && $3 != 0 ]]; then awk -v s="$s" -v n="$3" 'BEGIN { printf "%.0f", s * 1e6 / n }'; else echo "?"; fi
}

# seconds prints a Go duration (10s, 1m30s, 500ms) in whole seconds, at least 1.
seconds() {
  awk -v d="$1" 'BEGIN {
    t = 0
    while (match(d, /^[0-9.]+(ms|h|m|s)/)) {
      part = substr(d, 1, RLENGTH); d = substr(d, RLENGTH + 1)
      n = part + 0; unit = part; sub(/^[0-9.]+/, "", unit)
      t += (unit == "h") ? n * 3600 : (unit == "m") ? n * 60 : (unit == "ms") ? n / 1000 : n
    }
    printf "%d", (t < 1) ? 1 : t
  }'
}

# pg_server prints the scheme://userinfo@host:port of a PostgreSQL URL and
# its query string, without the database.
pg_server() {
  local url=$1 rest query=
  [[ $url == *\?* ]] && query=?${url#*\?}
  url=${url%%\?*}
  rest=${url#*://}
  echo "${url%%://*}://${rest%%/*}" "$query"
}

# --- NATS ------------------------------------------------------------------

nats_pid=
start_nats() {
  if [[ -n ${BENCH_NATS_URL:-} ]]; then
    nats_url=$BENCH_NATS_URL
    log "reusing NATS at $nats_url"
    return
  fi
  mkdir -p "$tmp/nats"
  "$BIN/nats-server" -a 127.0.0.1 -p -1 -js -sd "$tmp/nats" >"$tmp/nats.log" 2>&1 &
  pids+=($!)
  nats_pid=$!
  for _ in $(seq 100); do
    nats_url=$(sed -n 's/.*Listening for client connections on \([0-9.:]*\).*/nats:\/\/\1/p' "$tmp/nats.log" | head -1)
    [[ -n $nats_url ]] && break
    sleep 0.1
  done
  [[ -n $nats_url ]] || { log "nats-server did not start:"; cat "$tmp/nats.log" >&2; return 1; }
  log "started nats-server at $nats_url (store $tmp/nats)"
}

install_natscli() {
  log "building natscli $NATSCLI_VERSION (a tool, not a dependency of the module)"
  mkdir -p "$tmp/gobin"
  (cd "$tmp" && GOBIN="$tmp/gobin" GOFLAGS= go install "github.com/nats-io/natscli/nats@$NATSCLI_VERSION")
  natscli=$tmp/gobin/nats
}

# --- the phases ------------------------------------------------------------

nats_rate=
phase_nats() {
  install_natscli || { log "natscli unavailable; skipping the NATS baseline"; return 0; }
  log "phase nats: nats bench js pub async, 256 B, $NATS_MSGS msgs"
  watched=()
  [[ -z $nats_pid ]] || watched=("nats-server:$nats_pid")
  timed nats "$natscli" -s "$nats_url" bench js pub async "nbench$tag.x" --create --stream "NBENCH$tag" \
    --size 256 --msgs "$NATS_MSGS" --no-progress >"$tmp/nats-bench.txt" 2>&1 || {
    log "nats bench failed:"
    cat "$tmp/nats-bench.txt" >&2
    return 0
  }
  nats_rate=$(sed -n 's/.*stats: \([0-9,.]*\) msgs\/sec.*/\1/p' "$tmp/nats-bench.txt" | head -1 | tr -d ,)
  "$natscli" -s "$nats_url" stream rm -f "NBENCH$tag" >/dev/null 2>&1 || true
  log "  $nats_rate msgs/s"
}

phase_http_baseline() {
  "$BIN/nomnom" bench baseline-http --addr 127.0.0.1:0 >"$tmp/baseline.url" 2>"$tmp/baseline.log" &
  local pid=$!
  pids+=("$pid")
  local url=
  for _ in $(seq 100); do
    url=$(head -1 "$tmp/baseline.url")
    [[ -n $url ]] && break
    sleep 0.1
  done
  [[ -n $url ]] || { log "baseline-http did not start"; return 1; }
  watched=("server:$pid")
  run_bench http-message --url "$url" --mode message -c 64 --size 256 --duration "$DUR"
  run_bench http-rate --url "$url" --mode message -c 64 --size 256 --rate 2000 --duration "$DUR"
  run_bench http-batch --url "$url" --mode batch --batch-size 100 -c 16 --size 256 --duration "$DUR"
  watched=()
  stop_pid "$pid"
}

copy_rate=
decode_rate=
drain_rate=
# The drain benchmark posts DRAIN_ROUNDS rounds of the 300 sample orders
# before it starts the worker: 70 rounds are a backlog of 21,000 messages.
DRAIN_ROUNDS=${BENCH_DRAIN_ROUNDS:-70}
phase_copy() {
  if ! grep -rqs 'func BenchmarkCopyOrderRows' examples/tpch; then
    log "no BenchmarkCopyOrderRows in examples/tpch; skipping the COPY baseline"
    return 0
  fi
  local pattern='BenchmarkCopyOrderRows|BenchmarkDecodePersistOrders|BenchmarkWorkerDrainOrders'
  log "phase copy: go test -bench '$pattern' -benchtime ${DRAIN_ROUNDS}x ./examples/tpch/..."
  go test -run '^$' -bench "$pattern" -benchtime "${DRAIN_ROUNDS}x" ./examples/tpch/... >"$tmp/copy-bench.txt" 2>&1 || {
    log "the COPY benchmarks failed:"
    tail -20 "$tmp/copy-bench.txt" >&2
    return 0
  }
  # A benchmark line: name-N  iterations  ns/op ... value rows/s ...
  rows_per_s() { awk -v name="$1" '$1 ~ "^"name { for (i = 2; i < NF; i++) if ($(i + 1) == "rows/s") { print $i; exit } }' "$tmp/copy-bench.txt"; }
  copy_rate=$(rows_per_s BenchmarkCopyOrderRows)
  decode_rate=$(rows_per_s BenchmarkDecodePersistOrders)
  drain_rate=$(rows_per_s BenchmarkWorkerDrainOrders)
  log "  COPY ${copy_rate:-?} rows/s, decode+persist ${decode_rate:-?} rows/s, worker drain ${drain_rate:-?} rows/s"
}

setup_database() {
  local server query
  read -r server query < <(pg_server "${DATABASE_URL:-postgres://postgres@127.0.0.1:5432}")
  [[ -n $query ]] || query=?sslmode=disable
  db_admin_url=$server/postgres$query
  db_url=$server/$db_name$query
  psql -q "$db_admin_url" -c "CREATE DATABASE $db_name" >/dev/null
  log "created database $db_name"
  if [[ -x $BIN/tpch-worker ]]; then
    DATABASE_URL=$db_url "$BIN/tpch-worker" migrate up >"$tmp/migrate.log" 2>&1
  else
    DATABASE_URL=$db_url "$BIN/nomnom" migrate up >"$tmp/migrate.log" 2>&1
  fi
}

gateway_pid=
gateway_url=
gateway_rss=0
# start_gateway NAME starts a gateway on its own stream NAME$tag.
start_gateway() {
  local name=$1 port
  port=$(free_port)
  NATS_URL=$nats_url NATS_STREAM=$name$tag NATS_SUBJECT_PREFIX=$(tr 'A-Z' 'a-z' <<<"$name")$tag \
    NATS_STATUS_BUCKET=${name}S$tag PORT=$port DATABASE_URL=$db_url LOG_LEVEL=warn \
    "$BIN/nomnom" gateway >"$tmp/gateway-$name.log" 2>&1 &
  gateway_pid=$!
  pids+=("$gateway_pid")
  gateway_url=http://127.0.0.1:$port
  wait_http gateway "$gateway_url/health" || { tail -20 "$tmp/gateway-$name.log" >&2; return 1; }
}

stop_gateway() {
  local rss
  rss=$(vmhwm "$gateway_pid")
  gateway_rss=$(awk -v a="$gateway_rss" -v b="$rss" 'BEGIN { print (b > a ? b : a) }')
  stop_pid "$gateway_pid"
}

phase_gateway() {
  start_gateway GW
  watched=("gateway:$gateway_pid")
  [[ -z $nats_pid ]] || watched+=("nats-server:$nats_pid")
  run_bench gw-message --url "$gateway_url" --mode message -c 64 --size 256 --duration "$DUR"
  run_bench gw-batch --url "$gateway_url" --mode batch --batch-size 100 -c 16 --size 256 --duration "$DUR"
  run_bench gw-rate --url "$gateway_url" --mode message -c 64 --size 256 --rate 2000 --duration "$DUR"
  watched=()
  stop_gateway
  # The end-to-end phases get a server without these phases' millions of
  # messages to store and index.
  if [[ -n $natscli ]]; then
    for st in "GW$tag" "GW${tag}_DLQ" "KV_GWS$tag"; do
      "$natscli" -s "$nats_url" stream rm -f "$st" >/dev/null 2>&1 || true
    done
  fi
}

worker_rss=0
phase_e2e() {
  if [[ ! -x $BIN/tpch-worker || ! -f $ORDERS ]]; then
    log "no $BIN/tpch-worker or $ORDERS; skipping the end-to-end phase"
    return 0
  fi
  start_gateway E2E
  local mport
  mport=$(free_port)
  NATS_URL=$nats_url NATS_STREAM=E2E$tag NATS_SUBJECT_PREFIX=e2e$tag NATS_STATUS_BUCKET=E2ES$tag \
    NATS_CONSUMER=bench-$tag METRICS_ADDR=127.0.0.1:$mport DATABASE_URL=$db_url LOG_LEVEL=warn \
    "$BIN/tpch-worker" run >"$tmp/worker.log" 2>&1 &
  local wpid=$!
  pids+=("$wpid")
  wait_http worker "http://127.0.0.1:$mport/healthz" || { tail -20 "$tmp/worker.log" >&2; return 1; }
  local entity=()
  [[ -n ${BENCH_ENTITY:-} ]] && entity=(--entity "$BENCH_ENTITY")
  run_bench e2e-rate --url "$gateway_url" --mode e2e -c 16 --rate "$E2E_RATE" --duration "$DUR" --file "$ORDERS" "${entity[@]}"
  # At max the gateway accepts far faster than one worker writes, so the
  # phase posts the orders the target asks for in one phase duration (5,000
  # a second) and measures how fast they complete, from the records' own
  # received_at and completed_at.
  local n=$((5000 * $(seconds "$DUR")))
  run_bench e2e-max --url "$gateway_url" --mode e2e -c 16 --batch-size 100 -n "$n" --file "$ORDERS" \
    --follow-timeout "$((60 + 30 * $(seconds "$DUR")))s" "${entity[@]}"
  worker_rss=$(vmhwm "$wpid")
  stop_pid "$wpid"
  stop_gateway
}

# --- the table -------------------------------------------------------------

rows_json=()
# row NAME TARGET MEASURED OK: one line of the table and of the JSON.
row() {
  printf '%-46s %-22s %-28s %s\n' "$1" "$2" "$3" "$4"
  rows_json+=("$(printf '{"name":"%s","target":"%s","measured":"%s","result":"%s"}' "$1" "$2" "$3" "$4")")
}

# check MEASURED OP LIMIT prints ok, MISSED, or n/a when nothing was measured.
check() {
  [[ -n $1 && -n $3 ]] || { echo n/a; return; }
  awk -v m="$1" -v op="$2" -v l="$3" 'BEGIN { ok = (op == ">=") ? m >= l : m < l; print (ok ? "ok" : "MISSED") }'
}

# ratio A B prints A/B, or nothing when either is unknown.
ratio() {
  [[ -n $1 && -n $2 ]] || return 0
  awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b }'
}
# num prints a number rounded, or ? when unknown.
num() {
  if [[ -n $1 ]]; then awk -v v="$1" 'BEGIN { printf "%.0f", v }'; else echo "?"; fi
}
# get prints column $2 of phase $1's CSV, or nothing.
get() {
  [[ -f $tmp/$1.csv ]] || return 0
  csv_get "$tmp/$1.csv" "$2"
}

# cpu_split NAME prints the CPU per message of nats-server, the gateway and
# the load generator in gateway phase NAME.
cpu_split() {
  local n
  n=$(get "$1" accepted)
  echo "$(cpu_per_msg "$1" nats-server "$n") / $(cpu_per_msg "$1" gateway "$n") / $(cpu_per_msg "$1" client "$n")"
}

report() {
  local gw_msg gw_batch gw_p99 http_msg http_batch http_p99 e2e_max_rate e2e_rows e2e_p99 r
  gw_msg=$(get gw-message msgs_per_s)
  gw_batch=$(get gw-batch msgs_per_s)
  gw_p99=$(get gw-rate p99_ms)
  http_msg=$(get http-message msgs_per_s)
  http_batch=$(get http-batch msgs_per_s)
  http_p99=$(get http-rate p99_ms)
  e2e_max_rate=$(get e2e-max e2e_per_s)
  e2e_rows=$(get e2e-max e2e_rows_per_s)
  e2e_p99=$(get e2e-rate e2e_p99_ms)

  echo
  echo "nomnom bench: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), ${DUR} per phase, $(date -u +%FT%TZ)"
  printf '%-46s %-22s %-28s %s\n' "measure" "target" "measured" "result"
  printf '%.0s-' $(seq 104)
  echo
  row "nats bench js pub async, 256 B" "baseline" "$(num "$nats_rate") msgs/s" "-"
  row "  CPU/msg: nats-server / nats client" "info" "$(cpu_per_msg nats nats-server "$NATS_MSGS") / $(cpu_per_msg nats client "$NATS_MSGS") us" "-"
  row "HTTP 202 baseline, message, 64 conns" "baseline" "$(num "$http_msg") msgs/s" "-"
  row "  CPU/msg: server / load generator" "info" "$(cpu_per_msg http-message server "$(get http-message accepted)") / $(cpu_per_msg http-message client "$(get http-message accepted)") us" "-"
  row "HTTP 202 baseline, batch of 100, 16 conns" "baseline" "$(num "$http_batch") msgs/s" "-"
  row "HTTP 202 baseline, p99 at 2,000 msgs/s" "baseline" "${http_p99:-?} ms" "-"
  row "PostgreSQL COPY of order rows" "baseline" "$(num "$copy_rate") rows/s" "-"
  r=$(ratio "$gw_msg" "$http_msg")
  row "gateway /ingest/message, 64 conns" ">= 0.5 x HTTP 202" "$(num "$gw_msg") msgs/s = ${r:-?}x" "$(check "$r" ">=" 0.5)"
  row "  message vs nats" "info" "$(ratio "$gw_msg" "$nats_rate")x" "-"
  row "  CPU/msg: nats-server / gateway / generator" "info" "$(cpu_split gw-message) us" "-"
  row "gateway p99 202 at 2,000 msgs/s" "< 5 ms" "${gw_p99:-?} ms" "$(check "$gw_p99" "<" 5)"
  r=$(ratio "$gw_batch" "$nats_rate")
  row "gateway /ingest/batch, 100 lines, 16 conns" ">= 0.4 x nats" "$(num "$gw_batch") msgs/s = ${r:-?}x" "$(check "$r" ">=" 0.4)"
  row "  CPU/msg: nats-server / gateway / generator" "info" "$(cpu_split gw-batch) us" "-"
  r=$(ratio "$drain_rate" "$copy_rate")
  row "worker drain, $((DRAIN_ROUNDS * 300)) orders backlog" ">= 0.25 x COPY" "$(num "$drain_rate") rows/s = ${r:-?}x" "$(check "$r" ">=" 0.25)"
  [[ -z $decode_rate ]] || row "  handler alone: decode + persist" "info" "$(num "$decode_rate") rows/s = $(ratio "$decode_rate" "$copy_rate")x" "-"
  row "p99 accepted->completed at ${E2E_RATE}/s" "< 250 ms" "${e2e_p99:-?} ms" "$(check "$e2e_p99" "<" 250)"
  row "end to end at max: gateway + worker" "info" "$(num "$e2e_max_rate") orders/s, $(num "$e2e_rows") rows/s" "-"
  row "gateway peak RSS (VmHWM)" "< 150 MB" "$gateway_rss MB" "$(check "$gateway_rss" "<" 150)"
  [[ $worker_rss == 0 ]] || row "worker peak RSS (VmHWM)" "< 250 MB" "$worker_rss MB" "$(check "$worker_rss" "<" 250)"
  for name in e2e-rate e2e-max; do
    [[ -f $tmp/$name.csv ]] || continue
    row "  $name: completed / failed / lost" "info" "$(get $name e2e_completed) / $(get $name e2e_failed) / $(get $name e2e_lost)" "-"
  done

  local table="" runs="" sep="" f
  for r in "${rows_json[@]}"; do
    table+="$sep    $r"
    sep=$',\n'
  done
  sep=""
  for f in "$tmp"/*.json; do
    [[ -f $f ]] || continue
    runs+="$sep    \"$(basename "$f" .json)\": $(sed '2,$s/^/    /' "$f")"
    sep=$',\n'
  done
  {
    printf '{\n  "time": "%s",\n  "cores": %s,\n  "phase_duration": "%s",\n' "$(date -u +%FT%TZ)" "$(nproc)" "$DUR"
    printf '  "nats_pub_async_msgs_per_s": %s,\n' "${nats_rate:-null}"
    printf '  "copy_rows_per_s": %s,\n  "decode_persist_rows_per_s": %s,\n' "${copy_rate:-null}" "${decode_rate:-null}"
    printf '  "worker_drain_rows_per_s": %s,\n  "worker_drain_backlog": %s,\n' "${drain_rate:-null}" "$((DRAIN_ROUNDS * 300))"
    printf '  "gateway_vmhwm_mb": %s,\n  "worker_vmhwm_mb": %s,\n' "$gateway_rss" "$worker_rss"
    printf '  "table": [\n%s\n  ],\n' "$table"
    printf '  "runs": {\n%s\n  }\n}\n' "$runs"
  } >"$RESULTS"
  log "results written to $RESULTS"
}

# --- main ------------------------------------------------------------------

for b in nomnom nats-server; do
  [[ -x $BIN/$b ]] || { log "$BIN/$b missing: run make build"; exit 1; }
done
command -v psql >/dev/null || { log "psql is needed to create and drop the bench database"; exit 1; }

start_nats
phase_nats
phase_http_baseline
phase_copy
setup_database
phase_gateway
phase_e2e
report
