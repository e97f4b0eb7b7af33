"""Times a full training step of every cell at the paper's size with `lrnn bench` and prints
the README's speed table: step time, GFLOP/s, the fraction of the measured GEMM roofline,
and memory against the activations BPTT keeps. Standard library only.

    python3 scripts/bench_cells.py [--lrnn target/release/lrnn] [--steps 5]

The roofline is measured in the same run (`lrnn bench --gemm-peak 2048 --shards 2`, best of
three): two 2048^3 SGEMM streams at once, one a core, as training runs its two shards.
"""
import argparse
import json
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


def bench(lrnn, args):
    out = subprocess.run([lrnn, "bench", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lrnn", default="target/release/lrnn")
    ap.add_argument("--steps", type=int, default=5)
    a = ap.parse_args()
    common = ["--gemm", "matrixmultiply", "--shards", "2"]
    peaks = [bench(a.lrnn, ["--model", "lstm", "--gemm-peak", "2048", "--steps", "3", *common]) for _ in range(3)]
    peak = max(peaks, key=lambda p: p["gflop_per_s"])
    roof = peak["gflop_per_s"]
    print(f"GEMM roofline: {roof:.0f} GFLOP/s (best of 3: 2 streams of 2048^3 SGEMM, {peak['backend']})\n")
    print("| cell | median step (s) | spread (IQR, s) | GFLOP | GFLOP/s | roofline fraction | FLOP floor (s) | step / floor | activations (MiB) | step peak (MiB) | peak / activations |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for model, extra in CELLS:
        r = bench(a.lrnn, ["--model", model, *extra, *common, "--steps", str(a.steps), "--warmup", "2"])
        floor = r["gflop"] / roof
        print(
            f"| {r['model']} | {r['median_step_s']:.3f} | {r['iqr_step_s']:.3f} | {r['gflop']:.1f} "
            f"| {r['gflop_per_s']:.0f} | {r['gflop_per_s'] / roof:.2f} | {floor:.3f} "
            f"| {r['median_step_s'] / floor:.1f} | {r['activations_mib']:.0f} | {r['peak_step_mib']:.0f} "
            f"| {r['peak_over_activations']:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
