#!/usr/bin/env bash
# The harness binaries must contain no k6 code (go.k6.io/k6 is AGPL-3.0 and
# stays inside xk6/): their embedded module lists must not name it.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for b in bin/harness bin/harness-serve bin/harness-load; do
	if [ ! -x "$b" ]; then
		echo "check-no-k6: $b is not built (make build)" >&2
		exit 2
	fi
	if go version -m "$b" | grep -q 'go.k6.io/k6'; then
		echo "check-no-k6: $b links go.k6.io/k6 (AGPL-3.0): it must stay in xk6/" >&2
		status=1
	fi
done
[ "$status" = 0 ] && echo "check-no-k6: bin/harness, bin/harness-serve, bin/harness-load hold no k6 code"
exit "$status"
