"""The PyTorch CPU figure that `lrnn bench` is compared with: one training step (forward,
backward, Adam) of the Lipschitz RNN as the authors' code runs it (A and W built from M_A, M_W
each pass, Euler or RK2 steps in a Python loop over time) and of the fused `nn.LSTM`, at the
paper's pixel-MNIST size, on random data. Prints one JSON object a model, with the fields of
`lrnn bench` that compare.

    /path/to/venv/bin/python scripts/bench_torch.py [--threads 2] [--steps 5] [--model lipschitz-euler]
    /path/to/venv/bin/python scripts/bench_torch.py --gemm-peak 2048   # MKL's SGEMM rate, a roofline

Needs torch (`pip install torch`); not run by the tests.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

BETA, GAMMA, EPS = 0.75, 0.001, 0.03


class Lipschitz(torch.nn.Module):
    def __init__(self, p, n, q, scheme):
        super().__init__()
        self.scheme = scheme
        self.M_A = torch.nn.Parameter(torch.randn(n, n) * 0.1 / n)
        self.M_W = torch.nn.Parameter(torch.randn(n, n) * 0.1 / n)
        self.enc, self.dec = torch.nn.Linear(p, n), torch.nn.Linear(n, q)

    def forward(self, x):
        eye = torch.eye(self.M_A.shape[0])
        A = (1 - BETA) * (self.M_A + self.M_A.T) + BETA * (self.M_A - self.M_A.T) - GAMMA * eye
        W = (1 - BETA) * (self.M_W + self.M_W.T) + BETA * (self.M_W - self.M_W.T) - GAMMA * eye
        h = torch.zeros(x.shape[0], A.shape[0])
        f = lambda h, z: h @ A + torch.tanh(h @ W + z)
        # The input projection a step, as the authors' loop does: slicing a projected
        # [B, T, N] tensor instead makes every slice's backward a full-size scatter (O(T²)).
        for t in range(x.shape[1]):
            z = self.enc(x[:, t])
            if self.scheme == "euler":
                h = h + EPS * f(h, z)
            else:
                h = h + EPS * f(h + 0.5 * EPS * f(h, z), z)
        return self.dec(h)


class Lstm(torch.nn.Module):
    def __init__(self, p, n, q):
        super().__init__()
        self.rnn, self.dec = torch.nn.LSTM(p, n, batch_first=True), torch.nn.Linear(n, q)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.dec(out[:, -1])


def bench(name, batch, seq, hidden, steps, warmup, flush):
    p, q = 1, 10
    model = {
        "lipschitz-euler": lambda: Lipschitz(p, hidden, q, "euler"),
        "lipschitz-rk2": lambda: Lipschitz(p, hidden, q, "rk2"),
        "lstm": lambda: Lstm(p, hidden, q),
    }[name]()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.rand(batch, seq, p), torch.randint(0, q, (batch,))
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return {
        "model": name,
        "implementation": f"pytorch {torch.__version__} eager, CPU, "
        + ("flush-to-zero" if flush else "default denormals"),
        "batch": batch,
        "seq": seq,
        "hidden": hidden,
        "threads": torch.get_num_threads(),
        "steps_timed": steps,
        "median_step_s": statistics.median(times),
        "min_step_s": min(times),
    }


def timed(f):
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", action="append", help="lipschitz-euler, lipschitz-rk2, lstm (default: all)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seq", type=int, default=784)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--keep-denormals", action="store_true",
                    help="leave PyTorch's default (gradients decaying over 784 steps reach subnormal floats)")
    ap.add_argument("--gemm-peak", type=int, metavar="N",
                    help="instead, time N^3 SGEMMs (MKL) on --threads threads, best of --steps")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.gemm_peak:
        n = a.gemm_peak
        x, y = torch.randn(n, n), torch.randn(n, n)
        x @ y
        best = min(timed(lambda: x @ y) for _ in range(a.steps))
        print(json.dumps({"shape": [n, n, n], "threads": a.threads, "gflop_per_s": 2 * n**3 / best / 1e9,
                          "backend": f"pytorch {torch.__version__} (MKL) matmul"}))
        return
    # Flush-to-zero, as lrnn's training threads run: without it the LSTM's gradients decay
    # into subnormals over 784 steps (measured here: 6.4 s a step against 0.4-0.8 s).
    torch.set_flush_denormal(not a.keep_denormals)
    torch.manual_seed(0)
    for name in a.model or ["lipschitz-euler", "lipschitz-rk2", "lstm"]:
        print(json.dumps(bench(name, a.batch, a.seq, a.hidden, a.steps, a.warmup, not a.keep_denormals)), flush=True)


if __name__ == "__main__":
    main()
