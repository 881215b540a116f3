#!/usr/bin/env python3
"""Times PyTorch's own nn.LSTM / nn.GRU / nn.RNN on one shape, the way examples/bench.rs times
wgpu-rnn, so the two can be set side by side row by row.

    python3 compare/pytorch_bench.py --kind lstm|gru|rnn-tanh|rnn-relu --batch B --seq T
        --input I --hidden H [--layers L] [--bidirectional] [--device cpu|cuda] [--runs N]
        [--threads N]

Two timings per shape, each the median of --runs forwards after warm-up:
- the whole call: input from host memory, forward, output read back to host memory (what
  examples/bench.rs's `ms_per_forward` measures for wgpu-rnn);
- compute only: the input already on the device, one forward, synchronised. On CUDA this is
  cuDNN's kernels alone, the number its per-step latency is usually quoted by.
The last two lines are `ms_compute=<median>` and `ms_per_forward=<median of the whole call>`,
the last as in examples/bench.rs.
Needs torch (CPU or CUDA build); nothing else.
"""

import argparse
import statistics
import sys
import time

import torch


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kind", choices=["lstm", "gru", "rnn-tanh", "rnn-relu"], default="lstm")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seq", type=int, default=64)
    p.add_argument("--input", type=int, default=64)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--bidirectional", action="store_true")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    a = p.parse_args()
    for name in ("batch", "seq", "input", "hidden", "layers", "runs"):
        if getattr(a, name) < 1:
            p.error(f"--{name} must be at least 1")
    return a


def module(a):
    common = dict(
        input_size=a.input,
        hidden_size=a.hidden,
        num_layers=a.layers,
        bidirectional=a.bidirectional,
    )
    if a.kind == "lstm":
        return torch.nn.LSTM(**common)
    if a.kind == "gru":
        return torch.nn.GRU(**common)
    return torch.nn.RNN(nonlinearity=a.kind.removeprefix("rnn-"), **common)


def timed(fn, runs, sync):
    """Median, min and max milliseconds of `runs` calls of fn after a warm-up of a few calls."""
    for _ in range(max(3, runs // 5)):
        fn()
    sync()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times), min(times), max(times)


def main():
    a = parse()
    if a.threads:
        torch.set_num_threads(a.threads)
    cuda = a.device == "cuda"
    if cuda and not torch.cuda.is_available():
        sys.exit("error: --device cuda but torch sees no CUDA device")
    device = torch.device(a.device)
    torch.manual_seed(0)
    rnn = module(a).to(device).eval()
    # Time-major (T, B, I), as wgpu-rnn's GPU path runs it.
    x_host = torch.randn(a.seq, a.batch, a.input)
    x_dev = x_host.to(device)
    sync = torch.cuda.synchronize if cuda else (lambda: None)

    if cuda:
        name = torch.cuda.get_device_name(device)
        print(f"device: cuda ({name}), torch {torch.__version__}, "
              f"cuDNN {torch.backends.cudnn.version()} (enabled: {torch.backends.cudnn.enabled})")
    else:
        print(f"device: cpu, torch {torch.__version__}, {torch.get_num_threads()} threads")

    with torch.inference_mode():
        def whole():
            out, _ = rnn(x_host.to(device))
            return out.cpu()

        def compute():
            return rnn(x_dev)

        w_med, w_min, w_max = timed(whole, a.runs, sync)
        c_med, c_min, c_max = timed(compute, a.runs, sync)

    d = 2 if a.bidirectional else 1
    gates = {"lstm": 4, "gru": 3}.get(a.kind, 1)
    flops = 0
    for layer in range(a.layers):
        i = a.input if layer == 0 else d * a.hidden
        flops += 2 * d * a.seq * a.batch * (i + a.hidden) * gates * a.hidden
    shape = (f"{a.kind} B={a.batch} T={a.seq} I={a.input} H={a.hidden} L={a.layers} D={d}")
    print(f"per step: {c_med * 1e3 / a.seq:.1f} us (compute only)")
    print(f"{shape}: compute only: median {c_med:.3f} ms, min {c_min:.3f} ms, "
          f"max {c_max:.3f} ms ({a.runs} runs)")
    print(f"{shape}: median {w_med:.3f} ms, min {w_min:.3f} ms, max {w_max:.3f} ms "
          f"per forward ({a.runs} runs, upload + compute + read back)")
    print(f"GFLOP/s: {flops / (w_med * 1e6):.2f}")
    print(f"ms_compute={c_med:.3f}")
    print(f"ms_per_forward={w_med:.3f}")


if __name__ == "__main__":
    main()
