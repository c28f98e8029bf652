#!/usr/bin/env bash
# Runs the platform on local defaults: NATS (the one at $NATS_URL, or an
# embedded JetStream server started here when none answers), the platform
# and example migrations, the gateway and the example worker. Ctrl-C stops all.
set -euo pipefail
BIN=${BIN:-bin}
: "${DATABASE_URL:=postgres://postgres@127.0.0.1:5432/nomnom?sslmode=disable}"
: "${NATS_URL:=nats://127.0.0.1:4222}"
: "${PORT:=8080}"
export DATABASE_URL NATS_URL PORT
state=.nomnom
mkdir -p "$state"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

hostport=${NATS_URL#nats://}
hostport=${hostport%%,*}
if ! (exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}") 2>/dev/null; then
  echo "run: no NATS at $NATS_URL; starting an embedded JetStream server (store $state/nats)"
  if [[ ! -x "$BIN/nats-server" ]]; then
    echo "run: building $BIN/nats-server from the module in go.mod (takes a few minutes the first time)"
    "${GO:-go}" build -o "$BIN/nats-server" github.com/nats-io/nats-server/v2
  fi
  "$BIN/nats-server" -a "${hostport%:*}" -p "${hostport##*:}" -js -sd "$state/nats" -m 8222 >"$state/nats.log" 2>&1 &
  pids+=($!)
  sleep 1
fi

echo "run: migrations"
"$BIN/nomnom" migrate up --create-database
"$BIN/tpch-worker" migrate up
"$BIN/nomnom" gateway &
pids+=($!)
METRICS_ADDR=${METRICS_ADDR:-127.0.0.1:9090} "$BIN/tpch-worker" run &
pids+=($!)
echo "run: gateway on http://localhost:$PORT — try:"
echo "  head -n1 examples/tpch/testdata/orders.ndjson | curl -si localhost:$PORT/ingest/message -H 'Content-Type: application/json' -d @-"
wait -n
