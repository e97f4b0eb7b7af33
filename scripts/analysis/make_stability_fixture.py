"""Writes tests/fixtures/stability/: a Lipschitz checkpoint with random M_A, M_W (N = 12)
and what numpy says of its A and W, for tests/stability.rs to hold `lrnn analyze stability`
(and the per-epoch metrics.csv columns) against. Run from the repository root:

    python3 scripts/analysis/make_stability_fixture.py

Needs numpy and h5py. The matrices are built as the paper defines them (column convention):
A = (1-b)(M_A + M_A^T) + b(M_A - M_A^T) - g_A I, W likewise; eigenvalues, symmetric parts and
singular values are the same for the row convention's transposes.
"""
import json
import pathlib

import h5py
import numpy as np

N, BETA, GAMMA_A, GAMMA_W, EPS, ALPHA = 12, 0.65, 0.3, 0.2, 0.1, 1.0
out = pathlib.Path("tests/fixtures/stability")
out.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(2021)
m_a = (rng.standard_normal((N, N)) * 0.4).astype(np.float32)
m_w = (rng.standard_normal((N, N)) * 0.4).astype(np.float32)

with h5py.File(out / "checkpoint.h5", "w") as f:
    f["cell/M_A"] = m_a
    f["cell/M_W"] = m_w
    f["encoder/weight"] = rng.standard_normal((N, 1)).astype(np.float32)
    f["encoder/bias"] = rng.standard_normal(N).astype(np.float32)
    f["decoder/weight"] = rng.standard_normal((10, N)).astype(np.float32)
    f["decoder/bias"] = rng.standard_normal(10).astype(np.float32)

for scheme in ["euler", "rk2"]:
    (out / f"spec-{scheme}.toml").write_text(
        f"""[model]
kind = "lipschitz"
hidden = {N}
scheme = "{scheme}"
eps = {EPS}
beta = {BETA}
gamma_a = {GAMMA_A}
gamma_w = {GAMMA_W}
alpha = {ALPHA}
[task]
name = "smnist"
[train]
epochs = 1
lr = 0.001
"""
    )


def compose(m, gamma):
    m = m.astype(np.float64)
    return (1 - BETA) * (m + m.T) + BETA * (m - m.T) - gamma * np.eye(N)


a, w = compose(m_a, GAMMA_A), compose(m_w, GAMMA_W)
eig_a = np.linalg.eigvals(a)
a_sym = np.linalg.eigvalsh((a + a.T) / 2)
sigma_w = np.linalg.svd(w, compute_uv=False)
expected = {}
for scheme, r in [("euler", lambda z: 1 + z), ("rk2", lambda z: 1 + z + z * z / 2)]:
    expected[scheme] = {
        "max_re_eig_a": float(eig_a.real.max()),
        "max_re_eig_w": float(np.linalg.eigvals(w).real.max()),
        "lambda_max_a_sym": float(a_sym.max()),
        "lambda_min_a_sym": float(a_sym.min()),
        "sigma_max_w": float(sigma_w.max()),
        "amplification": float(np.abs(r(EPS * ALPHA * eig_a)).max()),
    }
(out / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
print(json.dumps(expected, indent=1))
