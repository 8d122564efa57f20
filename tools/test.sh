#!/usr/bin/env bash
# The project's test command (README "Run the tests"): every notebook, the `#| slow` real-data cells included,
# then which real-data checks ran and which were skipped (nbdev_test itself shows no cell output, so a skip
# because ../shared/data is absent would otherwise be silent). Extra arguments go to nbdev_test.
set -uo pipefail
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
export HR_CHECKS_LOG="${HR_CHECKS_LOG:-$(mktemp)}"
: > "$HR_CHECKS_LOG"
nbdev_test --flags slow --do_print --timing "$@"
rc=$?
ran=$(sort -u "$HR_CHECKS_LOG" | grep -c '^ran' || true); skipped=$(sort -u "$HR_CHECKS_LOG" | grep -c '^skipped' || true)   # a check may run in several cells
echo "real-data checks: $ran ran, $skipped skipped"
sort -u "$HR_CHECKS_LOG" | sed 's/^/  /'
[ "$skipped" -gt 0 ] && echo "  (skipped: no ../shared/data beside the checkout; set HR_SHARED_DATA to run them)"
exit $rc
