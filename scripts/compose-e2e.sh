#!/usr/bin/env bash
# make compose-e2e: builds the images (deploy/images/build.sh), starts
# docker-compose.yml under a project of its own, waits until every service
# is healthy, runs the compose end-to-end tests against the ports it
# publishes on 127.0.0.1, and removes the stack with its volumes, whatever
# happened.
#
# Environment: COMPOSE_E2E_PROJECT (nomnom-e2e), the host ports
# GATEWAY_PORT (28080), POSTGRES_PORT (25432), NATS_PORT (24222),
# NATS_MONITOR_PORT (28222) — away from both the standard ports and the
# compose file's defaults, so that a stack of one's own keeps running — and
# COMPOSE_E2E_KEEP=1 to leave the stack up for a look afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
project=${COMPOSE_E2E_PROJECT:-nomnom-e2e}
work=$(mktemp -d)
envfile=$work/compose-e2e.env

say() { echo "compose-e2e: $*"; }
die() { echo "compose-e2e: $*" >&2; exit 1; }

command -v docker >/dev/null || die "docker is not installed (Debian: apt-get install docker.io docker-compose)"
docker info >/dev/null 2>&1 || die "the Docker daemon does not answer (start it: dockerd, or systemctl start docker)"
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null; then
  compose=(docker-compose)
else
  die "neither the compose plugin (docker compose) nor docker-compose is installed"
fi
say "compose: ${compose[*]} ($("${compose[@]}" version --short 2>/dev/null || "${compose[@]}" version | head -n1))"

deploy/images/build.sh "$envfile"
{
  echo "GATEWAY_PORT=${GATEWAY_PORT:-28080}"
  echo "POSTGRES_PORT=${POSTGRES_PORT:-25432}"
  echo "NATS_PORT=${NATS_PORT:-24222}"
  echo "NATS_MONITOR_PORT=${NATS_MONITOR_PORT:-28222}"
  # Small batches and a short ack wait, so that three workers share even
  # a small load and a killed worker's batch comes back soon.
  echo "NOMNOM_BATCH_SIZE=10"
  echo "NOMNOM_ACK_WAIT=10s"
} >> "$envfile"
say "images and settings:"; sed 's/^/  /' "$envfile"
# shellcheck disable=SC1090
. "$envfile"

dc=("${compose[@]}" -p "$project" --env-file "$envfile" -f "$PWD/docker-compose.yml")
teardown() {
  local rc=$?
  if [ "$rc" != 0 ]; then
    "${dc[@]}" ps -a || true
    "${dc[@]}" logs --no-color --tail=200 || true
  fi
  if [ "${COMPOSE_E2E_KEEP:-}" = 1 ]; then
    say "left running: ${dc[*]} down -v"
  else
    "${dc[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
    say "stack and volumes removed"
  fi
  rm -rf "$work"
  say "took $(( $(date +%s) - started ))s"
  exit "$rc"
}
trap teardown EXIT

"${dc[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
"${dc[@]}" up -d --no-build

# health prints a service's containers as state/health, one a line.
health() {
  local id
  for id in $("${dc[@]}" ps -q "$1"); do
    docker inspect -f '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}/{{.State.ExitCode}}' "$id"
  done
}
deadline=$(( $(date +%s) + 300 ))
while :; do
  pending=()
  for s in postgres nats gateway worker; do
    [ "$(health "$s")" = running/healthy/0 ] || pending+=("$s")
  done
  case "$(health migrate)" in
    exited/none/0) ;;
    exited/*) die "migrate failed: $("${dc[@]}" logs --no-color migrate | tail -n 20)" ;;
    *) pending+=(migrate) ;;
  esac
  [ ${#pending[@]} = 0 ] && break
  [ "$(date +%s)" -lt "$deadline" ] || die "not healthy after 300s: ${pending[*]}"
  sleep 2
done
say "services healthy after $(( $(date +%s) - started ))s: postgres nats gateway worker (migrate exited 0)"

export NOMNOM_E2E_GATEWAY_URL="http://127.0.0.1:$GATEWAY_PORT"
export NOMNOM_E2E_DATABASE_URL="postgres://nomnom:nomnom@127.0.0.1:$POSTGRES_PORT/nomnom?sslmode=disable"
export NOMNOM_E2E_COMPOSE="${dc[*]}"
go test -count=1 -v -timeout 30m -run Compose ./e2e/ || die "tests failed"
