#!/usr/bin/env bash
# Runs test passes side by side and ends with one summary line over all of them:
#
#   tools/run-passes.sh PASS...   PASS: run.sh (the x86-64 pass: host cargo tests,
#                                 lint, KUnit, guest tests) or a pass script
#                                 tools/run-*.sh (run-stock.sh, run-arm64.sh, run-debug.sh)
#
# `make test` and `make test-all` end here. The passes run VMO_TEST_JOBS at a time
# (default 2), started in the order given (Makefile: TEST_PASSES): a TCG guest keeps about one of the two
# cores busy (its two vCPUs are often idle: tests that wait, exclusive tests), so
# two guests side by side take much less than one after the other; more than two
# guests on two cores is slower again (vCPU threads preempted in spinlocks).
# VMO_TEST_JOBS=1 runs them one after the other.
# Each pass writes its output to build/passes/<pass>.log, printed whole when the
# pass ends (with its wall-clock time), so the passes' lines never interleave; each
# leaves build/<pass>/counts.json (run.sh: build/test/counts.json), and the last
# line is "N passed, N failed, N skipped" over all of them. A pass that fails, or
# leaves no counts, fails the whole run (exit status 1).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
[ $# -gt 0 ] || { echo "usage: tools/run-passes.sh PASS..." >&2; exit 2; }
jobs=${VMO_TEST_JOBS:-2}
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "run-passes: VMO_TEST_JOBS=$jobs is not a positive number" >&2; exit 2; }
for p in "$@"; do
    [ -x "$here/tools/$p" ] || { echo "run-passes: no pass script tools/$p" >&2; exit 2; }
done
logs=$here/build/passes
rm -rf "$logs"; mkdir -p "$logs"

counts_of() { if [ "$1" = run.sh ]; then echo "$here/build/test/counts.json"; else echo "$here/build/${1%.sh}/counts.json"; fi; }

# Every pass in a process group of its own (job control), so that an interrupt
# ends each of them, and everything it started, by its group id.
set -m
declare -A pass_of=() start_of=()
stop_all() {
    local pid
    for pid in "${!pass_of[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
}
trap 'stop_all; exit 130' INT TERM

start() {
    local p=$1 pid
    rm -f "$(counts_of "$p")"
    if [ "$p" = run.sh ]; then
        VMO_NO_SUMMARY=1 "$here/tools/run.sh" test </dev/null >"$logs/${p%.sh}.log" 2>&1 &
    else
        env -u VMO_SUMMARY "$here/tools/$p" </dev/null >"$logs/${p%.sh}.log" 2>&1 &
    fi
    pid=$!
    pass_of[$pid]=$p; start_of[$pid]=$SECONDS
}

t0=$SECONDS
echo "== passes: $* (${jobs} at a time; each pass's output follows when it ends)"
rc=0; next=1
for p in "$@"; do
    [ ${#pass_of[@]} -lt "$jobs" ] || break
    start "$p"; next=$((next + 1))
done
while [ ${#pass_of[@]} -gt 0 ]; do
    set +e; wait -n -p done "${!pass_of[@]}"; prc=$?; set -e
    p=${pass_of[$done]}; secs=$((SECONDS - ${start_of[$done]}))
    unset "pass_of[$done]" "start_of[$done]"
    # The next pass starts before this one's output is printed.
    if [ "$next" -le $# ]; then start "${!next}"; next=$((next + 1)); fi
    cat "$logs/${p%.sh}.log"
    if [ "$prc" = 0 ]; then
        echo "== pass $p: ok in ${secs} s"
    else
        echo "== pass $p: FAILED (status $prc) in ${secs} s (log: build/passes/${p%.sh}.log)"
        rc=1
    fi
done
echo "== passes: all ended in $((SECONDS - t0)) s"

counts=()
for p in "$@"; do counts+=("$(counts_of "$p")"); done
# Exit status 1 when a pass left no counts or counted a failure, whatever its own status.
python3 - "${counts[@]}" <<'PY' || rc=1
import json, sys
t = {"passed": 0, "failed": 0, "skipped": 0}
for path in sys.argv[1:]:
    try:
        c = json.load(open(path))
    except (OSError, ValueError):
        c = {"failed": 1}  # a pass that left no counts failed before it could count
    for k in t:
        t[k] += c.get(k, 0)
print(f"{t['passed']} passed, {t['failed']} failed, {t['skipped']} skipped")
sys.exit(1 if t["failed"] else 0)
PY
exit $rc
