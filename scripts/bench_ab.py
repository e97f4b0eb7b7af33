"""Interleaved A/B timing of training steps: runs two or more `lrnn bench` variants in turn,
round after round, and prints each one's median and minimum over the rounds of its
`median_step_s`, and its median over the first variant's. On a shared machine whose speed
drifts within minutes, variants timed side by side in every round compare where separate
runs do not. Standard library only.

    python3 scripts/bench_ab.py --rounds 6 \\
        --variant 'target/release/lrnn bench --model lstm --gemm avx512' \\
        --variant 'target/release/lrnn bench --model lstm --gemm amx'

A variant is a whole command, so two builds compare too (copy the old binary aside first).
`--common` appends the paper's shape to every variant unless it is given as empty.
"""
import argparse
import json
import shlex
import statistics
import subprocess

PAPER = "--batch 128 --seq 784 --hidden 128 --input 1 --classes 10 --threads 2 --steps 5"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", action="append", required=True, help="a command printing `lrnn bench` JSON")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--common", default=PAPER, help=f"arguments added to every variant (default: {PAPER!r})")
    a = ap.parse_args()
    if len(a.variant) < 2:
        ap.error("give at least two --variant")
    runs = {v: [] for v in a.variant}
    for r in range(a.rounds):
        for v in a.variant:
            out = subprocess.run(shlex.split(v) + shlex.split(a.common), check=True, capture_output=True, text=True)
            runs[v].append(json.loads(out.stdout)["median_step_s"])
        print(f"round {r + 1}: " + "  ".join(f"{runs[v][-1]:.4f}" for v in a.variant), flush=True)
    base = statistics.median(runs[a.variant[0]])
    print("\n| variant | median (s) | min (s) | median / first |\n|---|---|---|---|")
    for v in a.variant:
        med = statistics.median(runs[v])
        print(f"| `{v}` | {med:.4f} | {min(runs[v]):.4f} | {med / base:.3f} |")


if __name__ == "__main__":
    main()
