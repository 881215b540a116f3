#!/usr/bin/env bash
# Runs examples/bench.rs over the grid points of BENCHMARKS.md and prints one table row each.
#
#   bash benches/grid.sh [FLOOR_US] > rows.md      (raw example output goes to stderr)
#
# FLOOR_US is the dependent-dispatch floor in microseconds, from
# `cargo bench --bench dispatch_floor` (dispatch_floor/empty_dependent_dispatch) measured in
# the same session; the lower bound of a row is FLOOR_US x T. POINTS overrides the grid:
#   POINTS="lstm:8:64:64:128:auto gru:1:64:64:1024:per-step" bash benches/grid.sh 9.0
# (kind:B:T:I:H:strategy). RUNS (default 10) is the example's --runs.
set -euo pipefail
cd "$(dirname "$0")/.."
floor_us="${1:-}"
runs="${RUNS:-10}"
points="${POINTS:-
gru:8:64:64:128:auto lstm:8:64:64:128:auto rnn-tanh:8:64:64:128:auto
gru:8:64:64:128:sequence lstm:8:64:64:128:sequence
lstm:1:64:64:128:auto lstm:1:64:64:128:per-step lstm:64:64:64:128:auto
lstm:8:1:64:128:auto lstm:8:512:64:128:auto
gru:8:64:64:64:auto gru:8:64:64:512:auto gru:8:64:64:1024:auto
gru:1:64:64:1024:auto gru:1:64:64:1024:sequence
gru:1:64:64:16:auto gru:1:64:64:16:per-step gru:1:512:64:16:auto gru:1:64:64:32:auto
gru:8:64:64:16:auto gru:8:64:64:16:per-step gru:8:64:64:32:auto lstm:8:64:64:32:auto
}"

cargo build --release --example bench >&2
echo "| kind | B | T | I | H | strategy | ms/forward | us/step | example's floor (us) | bound = floor x T (ms) | ours / bound |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for p in $points; do
    IFS=: read -r kind b t i h strategy <<<"$p"
    out=$(target/release/examples/bench --kind "$kind" --batch "$b" --seq "$t" --input "$i" \
        --hidden "$h" --strategy "$strategy" --runs "$runs" 2>&1 | grep -v XDG_RUNTIME_DIR)
    echo "$out" >&2
    ms=$(sed -n 's/^ms_per_forward=//p' <<<"$out")
    used=$(sed -n 's/^strategy: //p' <<<"$out")
    example_floor=$(sed -n 's/^dependent-dispatch floor: \([0-9.]*\) us/\1/p' <<<"$out")
    us_step=$(awk -v ms="$ms" -v t="$t" 'BEGIN { printf "%.1f", ms * 1000 / t }')
    if [ -n "$floor_us" ]; then
        bound=$(awk -v f="$floor_us" -v t="$t" 'BEGIN { printf "%.3f", f * t / 1000 }')
        ratio=$(awk -v ms="$ms" -v b="$bound" 'BEGIN { printf "%.1fx", ms / b }')
    else
        bound="-"
        ratio="-"
    fi
    echo "| $kind | $b | $t | $i | $h | $used | $ms | $us_step | $example_floor | $bound | $ratio |"
done
