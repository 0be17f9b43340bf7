#!/bin/sh
# Runs fuzz targets (called by tests/fuzz/fuzz.mk; see tests/fuzz/README.md).
#   run.sh fuzz|fuzz-smoke SECONDS TARGET...    fuzz each target SECONDS
#   run.sh repro 0 TARGET...                    replay tests/fuzz/crashes/<target>/*
# Each fuzz run prints one closing line:
#   fuzz-smoke value_decode: 123456 runs, 0 crashes (12 s)
# and the script exits non-zero if any target crashed. Crash inputs are kept
# in build/fuzz/artifacts/<target>/; new coverage in build/fuzz/corpus/<target>/
# (fuzz-smoke starts that from the committed seeds each time, so it is
# repeatable: fixed -seed, same seeds; `fuzz` keeps and grows it).
set -u
mode=$1; secs=$2; shift 2
B=${FUZZ_B:-build/fuzz}
VENV=${FUZZ_VENV:-build/venv-fuzz}
SEED=${FUZZ_SEED:-1}
HERE=tests/fuzz
# allocator_may_return_null: a decoder asked for a huge allocation by a
# hostile length must get NULL and fail cleanly (as with glibc), which the
# targets check; detect_leaks is on.
export ASAN_OPTIONS="${ASAN_OPTIONS:-allocator_may_return_null=1:detect_leaks=1:abort_on_error=0:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

# The atheris targets: the instrumented package in $B/py (fuzz.mk, fuzz-py)
# with atheris's ASan+UBSan+libFuzzer runtime preloaded. Python itself leaks
# at exit, so leak checking is off for them; FUZZ_PY_PLAIN=1 runs them on the
# venv's ordinary (uninstrumented) package instead.
ATHERIS_DIR=$("$VENV/bin/python" -c "import atheris; print(atheris.path())" 2>/dev/null)
cmd_for() { # target -> the command that runs it
    case $1 in
        py_*)
            if [ "${FUZZ_PY_PLAIN:-0}" != 0 ]; then
                echo "$VENV/bin/python $HERE/$1.py"
            else
                echo "env PYTHONPATH=$B/py LD_PRELOAD=$ATHERIS_DIR/asan_with_fuzzer.so ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=0 $VENV/bin/python $HERE/$1.py"
            fi ;;
        *) echo "$B/$1" ;;
    esac
}

failed=0; total=0
for t in "$@"; do
    run=$(cmd_for "$t")
    if [ "$mode" = repro ]; then
        dir=$HERE/crashes/$t
        [ -d "$dir" ] || continue
        for f in "$dir"/*; do
            [ -f "$f" ] || continue
            case $f in *.txt|*.md) continue ;; esac
            if $run -runs=1 -rss_limit_mb=2048 -malloc_limit_mb=2048 "$f" >"$B/repro.log" 2>&1; then
                echo "fuzz-repro $t: $(basename "$f"): fixed (runs clean)"
            else
                echo "fuzz-repro $t: $(basename "$f"): STILL CRASHES"; failed=$((failed + 1))
                grep -m3 -E "ERROR|FUZZ CHECK|runtime error|Traceback|Error" "$B/repro.log" | sed 's/^/    /'
            fi
        done
        continue
    fi
    work=$B/corpus/$t; art=$B/artifacts/$t; log=$B/logs/$t.$mode.log
    [ "$mode" = fuzz-smoke ] && rm -rf "$work"
    mkdir -p "$work" "$art" "$B/logs"
    extra=""
    [ -f "$HERE/dict/$t.dict" ] && extra="-dict=$HERE/dict/$t.dict"
    start=$(date +%s)
    # -timeout: one input taking > 10 s is a hang (a finding);
    # -rss_limit_mb: the Python targets carry the interpreter.
    $run -seed="$SEED" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -malloc_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$art/" $extra \
        "$work" "$HERE/corpus/$t" >"$log" 2>&1
    rc=$?
    end=$(date +%s)
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    [ -n "$runs" ] || runs=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$log" | tail -1)
    crashes=0
    if [ $rc -ne 0 ]; then
        crashes=1; failed=$((failed + 1))
        echo "---- $t: exit $rc, log $log" >&2
        grep -E "ERROR|FUZZ CHECK|runtime error|Traceback|Error:|^    #[0-9]+ |Test unit written|SUMMARY" "$log" | head -40 >&2
    fi
    # the Python echo target's value summary
    grep "^py_[a-z_]*:\|^  changed \|^  no repack\|^  clean errors" "$log" | tail -10
    echo "$mode $t: ${runs:-0} runs, $crashes crashes ($((end - start)) s)"
    total=$((total + end - start))
done
if [ "$mode" != repro ]; then
    echo "$mode: $# targets, ${total} s of fuzzing"
    # the plain closing line test runners print: targets that ran clean / crashed
    echo "$mode: $(($# - failed)) passed, $failed failed"
fi
[ $failed -eq 0 ]
