#!/usr/bin/env bash
# Lints the gateway's OpenAPI document with pinned versions of Redocly's
# recommended rules and Spectral's spectral:oas ruleset. The linters are
# installed once into a cache directory, so a fresh machine needs only the
# npm registry, and a second run needs nothing.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
doc=${1:-$root/gateway/openapi.json}
cache=${NOMNOM_LINT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nomnom/openapi-lint}
redocly_version=2.77.0
spectral_version=6.16.3

stamp=$cache/.installed-redocly-$redocly_version-spectral-$spectral_version
if [ ! -e "$stamp" ]; then
	mkdir -p "$cache"
	npm install --prefix "$cache" --no-audit --no-fund --loglevel=error \
		"@redocly/cli@$redocly_version" "@stoplight/spectral-cli@$spectral_version" >&2
	touch "$stamp"
fi

ruleset=$(mktemp --suffix=.yaml)
trap 'rm -f "$ruleset"' EXIT
echo 'extends: ["spectral:oas"]' >"$ruleset"

# Both linters run even when the first fails, so one run shows every error.
status=0
echo "redocly lint (recommended): $doc" >&2
REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
	"$cache/node_modules/.bin/redocly" lint --extends=recommended "$doc" || status=1
echo "spectral lint (spectral:oas): $doc" >&2
"$cache/node_modules/.bin/spectral" lint --ruleset "$ruleset" --fail-severity=error "$doc" || status=1
exit $status
