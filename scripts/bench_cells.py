"""Times a full training step of every cell at the paper's size with `lrnn bench` and prints
the README's speed table: step time, GFLOP/s, the fraction of the measured GEMM roofline,
and memory against the activations BPTT keeps. With `--torch PYTHON`, the PyTorch CPU
figures of `scripts/bench_torch.py` are measured in the same run, so the two compare on
this shared machine. Standard library only.

    python3 scripts/bench_cells.py [--lrnn target/release/lrnn] [--steps 5] [--torch venv/bin/python]

The roofline is measured in the same run: the best of three of each of two streams at once,
one a core, as training runs its two shards, of 2048^3 SGEMM (matrixmultiply) and of the
per-step product 64x128x256 through lrnn's packed AVX-512 kernel, and with `--torch`, of
MKL's 2048^3 SGEMM on the same threads (best of five). The FMA peak (`lrnn bench
--fma-peak`, register-only FMA chains on the same cores, best of three) is printed beside it:
the arithmetic ceiling no GEMM passes, so it shows how much of the machine the roofline is.

With `--amx`, every cell is timed again under `--gemm amx` (three bf16 products a GEMM on the
AMX tiles, PyTorch's float32 matmul precision "high"), each beside a fresh run of the default
so the ratio compares moments next to each other. Those rows are not f32 and are not held to
the f32 roofline.
"""
import argparse
import json
import os
import subprocess

CELLS = [
    ("lipschitz", ["--scheme", "euler"]),
    ("lipschitz", ["--scheme", "rk2"]),
    ("lstm", []),
    ("gru", []),
    ("vanilla", []),
    ("residual", []),
    ("antisymmetric", []),
    ("antisymmetric", ["--cell", "gated=true"]),
    ("cayley", []),
    ("cornn", []),
]
# The other backends, on the paper's model.
BACKENDS = [("lipschitz", ["--scheme", "euler", "--gemm", g]) for g in ("matrixmultiply", "openblas")]


def bench(lrnn, args):
    out = subprocess.run([lrnn, "bench", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lrnn", default="target/release/lrnn")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--torch", metavar="PYTHON", help="a Python with torch, to time scripts/bench_torch.py too")
    ap.add_argument("--amx", action="store_true", help="also time every cell under --gemm amx (bf16x3)")
    a = ap.parse_args()
    common = ["--threads", str(a.threads)]
    peaks = [
        bench(a.lrnn, ["--gemm-peak", shape, "--steps", reps, *common])
        for shape, reps in (("2048", "3"), ("64x128x256", "20000"))
        for _ in range(3)
    ]
    if a.torch:
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_torch.py")
        out = subprocess.run(
            [a.torch, script, "--gemm-peak", "2048", "--threads", str(a.threads), "--steps", "5"],
            check=True, capture_output=True, text=True,
        )
        peaks.append(json.loads(out.stdout))
    for p in peaks:
        source = "MKL" if "pytorch" in p["backend"] else "matrixmultiply" if p["shape"][0] == 2048 else "lrnn packed"
        p["label"] = f"{'x'.join(map(str, p['shape']))} {source}"
    print("GEMM rates: " + ", ".join(f"{p['label']} {p['gflop_per_s']:.0f}" for p in peaks))
    peak = max(peaks, key=lambda p: p["gflop_per_s"])
    roof = peak["gflop_per_s"]
    fma = max(bench(a.lrnn, ["--fma-peak", *common])["gflop_per_s"] for _ in range(3))
    print(f"GEMM roofline: {roof:.0f} GFLOP/s (the best of them: {peak['label']}, {a.threads} threads)")
    print(f"FMA peak: {fma:.0f} GFLOP/s (the roofline is {roof / fma:.0%} of it)\n")
    print("| cell | backend | median step (s) | spread (IQR, s) | GFLOP | GFLOP/s | roofline fraction | FLOP floor (s) | step / floor | activations (MiB) | step peak (MiB) | peak / activations |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for model, extra in CELLS + BACKENDS:
        r = bench(a.lrnn, ["--model", model, *extra, *common, "--steps", str(a.steps), "--warmup", "2"])
        floor = r["gflop"] / roof
        backend = r["backend"].split(" ")[0] if "--gemm" in extra else r["backend"].split(" ")[0] + " (default)"
        print(
            f"| {r['model']} | {backend} | {r['median_step_s']:.3f} | {r['iqr_step_s']:.3f} | {r['gflop']:.1f} "
            f"| {r['gflop_per_s']:.0f} | {r['gflop_per_s'] / roof:.2f} | {floor:.3f} "
            f"| {r['median_step_s'] / floor:.1f} | {r['activations_mib']:.0f} | {r['peak_step_mib']:.0f} "
            f"| {r['peak_over_activations']:.2f} |",
            flush=True,
        )
    if a.amx and "amx bf16x3" not in bench(a.lrnn, ["--gemm-peak", "64", "--steps", "1", "--gemm", "amx", *common])["backend"]:
        print("\n--amx: this CPU (or OS) runs no AMX-BF16 tiles; skipped")
    elif a.amx:
        amx_peak = max(
            bench(a.lrnn, ["--gemm-peak", "64x128x256", "--steps", "20000", "--gemm", "amx", *common])["gflop_per_s"]
            for _ in range(3)
        )
        print(f"\nUnder `--gemm amx` (bf16x3 on AMX tiles; its 64x128x256 step product: {amx_peak:.0f} GFLOP/s,")
        print("f32-equivalent), each cell right after a run of the default backend:\n")
        print("| cell | default step (s) | amx step (s) | amx spread (IQR, s) | amx GFLOP/s | default / amx |")
        print("|---|---|---|---|---|---|")
        for model, extra in CELLS:
            d, x = (
                bench(a.lrnn, ["--model", model, *extra, *common, "--steps", str(a.steps), "--warmup", "2", *gemm])
                for gemm in ([], ["--gemm", "amx"])
            )
            print(
                f"| {x['model']} | {d['median_step_s']:.3f} | {x['median_step_s']:.3f} | {x['iqr_step_s']:.3f} "
                f"| {x['gflop_per_s']:.0f} | {d['median_step_s'] / x['median_step_s']:.2f} |",
                flush=True,
            )
    if a.torch:
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_torch.py")
        print(f"\nPyTorch on this CPU, same run ({a.threads} threads):\n")
        print("| model | implementation | median step (s) | min step (s) |")
        print("|---|---|---|---|")
        out = subprocess.run(
            [a.torch, script, "--threads", str(a.threads), "--steps", str(a.steps)],
            check=True, capture_output=True, text=True,
        )
        for line in out.stdout.splitlines():
            r = json.loads(line)
            print(f"| {r['model']} | {r['implementation']} | {r['median_step_s']:.3f} | {r['min_step_s']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
