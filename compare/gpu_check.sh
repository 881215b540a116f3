#!/usr/bin/env bash
# Issue 4's checks on a real GPU in one run: wgpu-rnn (Vulkan, Metal or DX12) against PyTorch
# (cuDNN) on the same shapes, each row against the weight-streaming bandwidth floor, the
# strategies in turns for stacks (the wavefront's rule for GPUs), and f16 weights against f32
# in turns (issue 22). Prints markdown tables for
# BENCHMARKS.md on stdout; every program's own output goes to stderr.
#
#   bash compare/gpu_check.sh > gpu_rows.md 2> gpu_raw.log
#
# Environment:
#   BIN_DIR      where the `bench`, `strategies` and `precision` examples are (default
#                target/release/examples; built there with cargo when missing). The binaries
#                can be built on another x86-64 Linux machine and copied.
#   TORCH_DEVICE cuda (default) or cpu; PYTHON (default python3) must import torch. Set
#                TORCH_DEVICE=none to leave PyTorch out.
#   MEM_TB_S     the GPU's memory bandwidth in TB/s for the floor (default 4.8, an H200;
#                an H100 SXM is 3.35).
#   ALLOW_CPU_ADAPTER=1  run on a software adapter too (lavapipe, llvmpipe, WARP): for trying
#                the script out; by default it stops there, so that a machine whose GPU driver
#                was not found cannot pass lavapipe numbers off as a GPU's.
#   POINTS, RUNS, STACKS and HALVES as below (STACKS=none or HALVES=none leaves that part out).
#
# Per-step times are marginal: (forward at T=2N - forward at T=N) / N, so that the fixed cost
# of a call (submit, upload, read back) is left out on both sides: ours from whole calls (which
# also upload and read back N more steps, so the comparison leans against us), PyTorch's from
# compute-only calls. Whole-call times at T=N are printed too. The bandwidth floor of a step is the recurrent weights it must read,
# D x G x H x H_out x 4 bytes per layer, at MEM_TB_S.
set -euo pipefail
cd "$(dirname "$0")/.."

bin_dir="${BIN_DIR:-target/release/examples}"
torch_device="${TORCH_DEVICE:-cuda}"
python="${PYTHON:-python3}"
mem_tb_s="${MEM_TB_S:-4.8}"
runs="${RUNS:-20}"
# kind:B:N:I:H (T = N and 2N). Batch 1 up to H = 1024 is where the goals are.
points="${POINTS:-
gru:1:64:64:64 lstm:1:64:64:64
gru:1:64:128:128 lstm:1:64:128:128
gru:1:64:256:256 lstm:1:64:256:256
gru:1:64:512:512 lstm:1:64:512:512
gru:1:64:1024:1024 lstm:1:64:1024:1024
gru:8:64:64:128 lstm:8:64:64:128
gru:64:64:512:512 lstm:64:64:512:512
}"
# KIND:B:H:T:I:ROUNDS:LAYERS for the strategies example.
stacks="${STACKS:-gru:1:1024:64:1024:6:4 gru:1:256:64:256:6:4 lstm:8:512:64:512:6:2 gru:8:128:64:128:6:3}"
# KIND:B:H for the precision example (f32 and f16 weights in turns, T = 256).
halves="${HALVES:-gru:1:1024 lstm:1:1024 gru:1:256 lstm:8:128 lstm:64:512}"

if [ ! -x "$bin_dir/bench" ] || [ ! -x "$bin_dir/strategies" ] || [ ! -x "$bin_dir/precision" ]; then
    cargo build --release --example bench --example strategies --example precision >&2
fi

# A failed run leaves its field empty and its row reads "failed": one shape that does not fit
# must not cost the rest of a run on a borrowed machine.
# The bench example's ms_per_forward for one shape; its whole output goes to stderr.
ours() {
    local out
    out=$("$bin_dir/bench" --kind "$1" --batch "$2" --seq "$3" --input "$4" --hidden "$5" \
        --runs "$runs" 2>&1 | grep -v XDG_RUNTIME_DIR) || true
    echo "$out" >&2
    sed -n 's/^ms_per_forward=//p' <<<"$out"
}

# PyTorch's whole-call and compute-only medians for one shape, as "WHOLE COMPUTE".
theirs() {
    local out
    out=$("$python" compare/pytorch_bench.py --kind "$1" --batch "$2" --seq "$3" --input "$4" \
        --hidden "$5" --runs "$runs" --device "$torch_device" 2>&1) || true
    echo "$out" >&2
    echo "$(sed -n 's/^ms_per_forward=//p' <<<"$out") $(sed -n 's/^ms_compute=//p' <<<"$out")"
}

# (l - s) / n in microseconds from milliseconds, or "failed" when either is missing.
per_step() {
    awk -v s="$1" -v l="$2" -v n="$3" \
        'BEGIN { if (s == "" || l == "") print "failed"; else printf "%.1f", (l - s) * 1000 / n }'
}

# a / b as "1.23x", or "-" when either is not a positive number.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2fx", a / b; else print "-" }'
}

probe=$("$bin_dir/bench" --kind gru --batch 1 --seq 4 --input 4 --hidden 4 --runs 3 2>&1 |
    grep -v XDG_RUNTIME_DIR) || true
echo "$probe" >&2
adapter=$(sed -n 's/^adapter: //p' <<<"$probe")
floor=$(sed -n 's/^dependent-dispatch floor: \([0-9.]*\) us/\1/p' <<<"$probe")
if [ -z "$adapter" ]; then
    echo "gpu_check: the bench example found no adapter (see the log)" >&2
    exit 1
fi
if grep -qiE 'llvmpipe|lavapipe|swiftshader|warp|software' <<<"$adapter" &&
    [ "${ALLOW_CPU_ADAPTER:-}" != 1 ]; then
    echo "gpu_check: the adapter is a software one ($adapter); is the GPU's Vulkan driver" \
        "installed? (ALLOW_CPU_ADAPTER=1 runs anyway)" >&2
    exit 1
fi

echo "Adapter: $adapter; empty dependent dispatch (the bench example's probe): $floor us."
if [ "$torch_device" != none ]; then
    echo "PyTorch: $("$python" -c 'import torch; print(torch.__version__, "cuDNN", torch.backends.cudnn.version(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "(no CUDA device)")' 2>&1)"
fi
echo "Bandwidth floor at $mem_tb_s TB/s. Per step: (T=2N minus T=N) / N; whole call at T=N."
echo
echo "| kind | B | I | H | ours us/step | PyTorch us/step (compute) | PyTorch / ours | floor us/step | ours / floor | ours ms, T=N | PyTorch ms, T=N (whole, compute) |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for p in $points; do
    IFS=: read -r kind b n i h <<<"$p"
    g=$(case "$kind" in lstm) echo 4 ;; gru) echo 3 ;; *) echo 1 ;; esac)
    short=$(ours "$kind" "$b" "$n" "$i" "$h")
    long=$(ours "$kind" "$b" $((2 * n)) "$i" "$h")
    step=$(per_step "$short" "$long" "$n")
    bw=$(awk -v g="$g" -v h="$h" -v bw="$mem_tb_s" 'BEGIN { printf "%.2f", g * h * h * 4 / (bw * 1e6) }')
    vs_bw=$(ratio "$step" "$bw")
    if [ "$torch_device" != none ]; then
        read -r t_short t_short_c <<<"$(theirs "$kind" "$b" "$n" "$i" "$h")"
        read -r _ t_long_c <<<"$(theirs "$kind" "$b" $((2 * n)) "$i" "$h")"
        t_step=$(per_step "$t_short_c" "$t_long_c" "$n")
        vs_torch=$(ratio "$t_step" "$step")
        torch_call="$t_short, $t_short_c"
    else
        t_step="-"; vs_torch="-"; torch_call="-"
    fi
    echo "| $kind | $b | $i | $h | $step | $t_step | $vs_torch | $bw | $vs_bw | $short | $torch_call |"
done

if [ "$halves" != none ]; then
    echo
    echo "f16 weights against f32, in turns in one process (\`precision --kind KIND --batch B --hidden H --seq 256\`):"
    echo
    echo '```'
    for s in $halves; do
        IFS=: read -r kind b h <<<"$s"
        "$bin_dir/precision" --kind "$kind" --batch "$b" --hidden "$h" --seq 256 2>&1 |
            grep -v XDG_RUNTIME_DIR | tee /dev/stderr || true
    done
    echo '```'
fi

[ "$stacks" = none ] && exit 0
echo
echo "Stacks, each strategy in turns in one process (\`strategies --kind KIND --batch B --hidden H --seq T --input I --rounds R --layers L\`):"
echo
echo '```'
for s in $stacks; do
    IFS=: read -r kind b h t i rounds layers <<<"$s"
    "$bin_dir/strategies" --kind "$kind" --batch "$b" --hidden "$h" --seq "$t" --input "$i" \
        --rounds "$rounds" --layers "$layers" 2>&1 | grep -v XDG_RUNTIME_DIR | tee /dev/stderr
done
echo '```'
