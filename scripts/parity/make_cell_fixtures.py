"""PyTorch reference fixtures for the baseline-cell parity tests.

Checks: the Rust harness's hand-written forward pass and gradients of the
antisymmetric (plain and gated), Cayley and coRNN cells against independent
PyTorch autograd transcriptions of the published equations, in float64.

Writes, for each case in {antisymmetric, antisymmetric_gated, cayley, cornn},
to <out>/<case>/:
  spec.toml       model/task/train config read by the Rust harness
  checkpoint.h5   float32 parameters at the harness's checkpoint names
  batch.h5        x float32 [B, T, 1] in [0, 1], y int64 [B]
  expected.h5     float64 loss, d loss / d param (same paths), logits, h_last

Models (row vectors, h is [B, N]; z_t = x_t U^T + b; h_0 = 0; loss = mean
cross-entropy of h_T D^T + c):
  antisymmetric   (erichson/LipschitzRNN models.py, asymRNN)
                  W = M - M^T - gamma I;  h' = h + eps tanh(h W + z_t)
  antisymmetric_gated  (Chang et al., ICLR 2019, gated AntisymmetricRNN)
                  encoder rows [:N] give z_t, rows [N:] the gate's x V_z^T + b_z;
                  g = sigmoid(h W + zg_t);  h' = h + eps g * tanh(h W + z_t)
  cayley          (erichson/LipschitzRNN models.py, calRNN)
                  C = M - M^T;  W = inverse(I + C) @ (I - C);  h' = tanh(h W + z_t)
  cornn           (tk-rusch/coRNN psMNIST/network.py, coRNNCell, verbatim)
                  i2h = Linear(p + 2N, N) on cat(x, hz, hy) with
                  i2h.weight = [encoder/weight | cell/W_z | cell/W], i2h.bias = encoder/bias;
                  hz' = hz + dt (tanh(i2h(...)) - gamma hy - epsilon hz);  hy' = hy + dt hz'
                  decoded state: hy.

Rerun (from the repository root, deterministic):
  python scripts/parity/make_cell_fixtures.py --out tests/fixtures/parity
"""
import argparse
import os

import h5py
import numpy as np
import torch
import torch.nn.functional as F

N, P, Q, B, T = 16, 1, 10, 6, 30

EPS, GAMMA = 0.1, 0.01
# coRNN: the published sMNIST gamma/epsilon; dt 0.1 (not 0.042) so that T = 30 steps exercise the coupling.
DT, CO_GAMMA, CO_EPSILON = 0.1, 2.7, 4.7

CASES = {
    "antisymmetric": dict(
        model=f'kind = "antisymmetric"\nhidden = {N}\neps = {EPS}\ngamma = {GAMMA}\ngated = false',
        cell=["cell/M"], gated=False),
    "antisymmetric_gated": dict(
        model=f'kind = "antisymmetric"\nhidden = {N}\neps = {EPS}\ngamma = {GAMMA}\ngated = true',
        cell=["cell/M"], gated=True),
    "cayley": dict(model=f'kind = "cayley"\nhidden = {N}', cell=["cell/M"], gated=False),
    "cornn": dict(
        model=f'kind = "cornn"\nhidden = {N}\ndt = {DT}\ngamma = {CO_GAMMA}\nepsilon = {CO_EPSILON}',
        cell=["cell/W", "cell/W_z"], gated=False),
}

SPEC = """# Parity fixture made by scripts/parity/make_cell_fixtures.py (PyTorch reference).
[model]
{model}

[task]
name = "smnist"

[train]
epochs = 1
batch_size = 6
lr = 0.003
seed = 1
"""


def names(case):
    return CASES[case]["cell"] + ["encoder/weight", "encoder/bias", "decoder/weight", "decoder/bias"]


def antisymmetric_matrix(M, gamma):
    return M - M.T - gamma * torch.eye(M.shape[0], dtype=M.dtype)


def run_antisymmetric(x, params, gated):
    M, U, b = params["cell/M"], params["encoder/weight"], params["encoder/bias"]
    n = M.shape[0]
    W = antisymmetric_matrix(M, GAMMA)
    h = torch.zeros(x.shape[0], n, dtype=x.dtype)
    for t in range(x.shape[1]):
        zall = x[:, t] @ U.T + b
        pre = h @ W
        if gated:
            g = torch.sigmoid(pre + zall[:, n:])
            h = h + EPS * g * torch.tanh(pre + zall[:, :n])
        else:
            h = h + EPS * torch.tanh(pre + zall)
    return h


def run_cayley(x, params):
    M, U, b = params["cell/M"], params["encoder/weight"], params["encoder/bias"]
    n = M.shape[0]
    I = torch.eye(n, dtype=M.dtype)
    C = M - M.T
    W = torch.matmul(torch.inverse(I + C), I - C)
    h = torch.zeros(x.shape[0], n, dtype=x.dtype)
    for t in range(x.shape[1]):
        h = torch.tanh(h @ W + x[:, t] @ U.T + b)
    return h


class CoRNNCell(torch.nn.Module):
    """tk-rusch/coRNN psMNIST/network.py coRNNCell, as published."""

    def __init__(self, n_inp, n_hid, dt, gamma, epsilon):
        super().__init__()
        self.dt, self.gamma, self.epsilon = dt, gamma, epsilon
        self.i2h = torch.nn.Linear(n_inp + n_hid + n_hid, n_hid)

    def forward(self, x, hy, hz):
        hz = hz + self.dt * (torch.tanh(self.i2h(torch.cat((x, hz, hy), 1)))
                             - self.gamma * hy - self.epsilon * hz)
        hy = hy + self.dt * hz
        return hy, hz


def run_cornn(x, params):
    W, Wz = params["cell/W"], params["cell/W_z"]
    V, b = params["encoder/weight"], params["encoder/bias"]
    n, p = W.shape[0], V.shape[1]
    cell = CoRNNCell(p, n, DT, CO_GAMMA, CO_EPSILON).double()
    # Replace i2h's parameters by functions of ours so autograd reaches them.
    del cell.i2h.weight, cell.i2h.bias
    cell.i2h.weight = torch.cat([V, Wz, W], dim=1)
    cell.i2h.bias = b
    hy = torch.zeros(x.shape[0], n, dtype=x.dtype)
    hz = torch.zeros(x.shape[0], n, dtype=x.dtype)
    for t in range(x.shape[1]):
        hy, hz = cell(x[:, t], hy, hz)
    return hy


def forward(case, x, y, params):
    """Returns (loss, logits, h_last). x: [B, T, p], y: [B] int64."""
    if case.startswith("antisymmetric"):
        h = run_antisymmetric(x, params, gated=case.endswith("gated"))
    elif case == "cayley":
        h = run_cayley(x, params)
    else:
        h = run_cornn(x, params)
    logits = h @ params["decoder/weight"].T + params["decoder/bias"]
    return F.cross_entropy(logits, y), logits, h


def make_params(case, n, p, q, gen):
    """Order-one cell matrices (so the recurrence matters), nn.Linear-like maps."""
    rows = 2 * n if CASES[case]["gated"] else n
    out = {k: 0.3 * torch.randn(n, n, generator=gen, dtype=torch.float64) for k in CASES[case]["cell"]}
    bound_in, bound_out = 1 / np.sqrt(p), 1 / np.sqrt(n)
    uni = lambda shape, bound: (2 * torch.rand(shape, generator=gen, dtype=torch.float64) - 1) * bound
    out["encoder/weight"] = uni((rows, p), bound_in)
    out["encoder/bias"] = uni((rows,), bound_in)
    out["decoder/weight"] = uni((q, n), bound_out)
    out["decoder/bias"] = uni((q,), bound_out)
    return out


def gradcheck_tiny():
    gen = torch.Generator().manual_seed(0)
    n, p, q, bsz, steps = 4, 2, 3, 2, 5
    x = torch.rand(bsz, steps, p, generator=gen, dtype=torch.float64)
    y = torch.tensor([0, 2])
    for case in CASES:
        ks = names(case)
        base = make_params(case, n, p, q, gen)
        leaves = [(base[k] * 1.5).requires_grad_() for k in ks]
        f = lambda *ps: forward(case, x, y, dict(zip(ks, ps)))[0]
        print(f"gradcheck[{case}]: {torch.autograd.gradcheck(f, leaves)}")


def write_case(out, case, x, y):
    gen = torch.Generator().manual_seed({"antisymmetric": 1, "antisymmetric_gated": 2,
                                         "cayley": 3, "cornn": 4}[case])
    ckpt = {k: v.float() for k, v in make_params(case, N, P, Q, gen).items()}
    d = os.path.join(out, case)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "spec.toml"), "w") as fh:
        fh.write(SPEC.format(model=CASES[case]["model"]))
    with h5py.File(os.path.join(d, "checkpoint.h5"), "w") as fh:
        for k in names(case):
            fh.create_dataset(k, data=ckpt[k].numpy().astype(np.float32))
    with h5py.File(os.path.join(d, "batch.h5"), "w") as fh:
        fh.create_dataset("x", data=x.numpy().astype(np.float32))
        fh.create_dataset("y", data=y.numpy().astype(np.int64))

    leaves = [ckpt[k].double().requires_grad_() for k in names(case)]  # float32 values are the truth
    loss, logits, h_last = forward(case, x.double(), y, dict(zip(names(case), leaves)))
    grads = torch.autograd.grad(loss, leaves)
    with h5py.File(os.path.join(d, "expected.h5"), "w") as fh:
        fh.attrs["made_by"] = f"torch {torch.__version__}"
        fh.create_dataset("loss", data=np.float64(loss.item()))
        for k, g in zip(names(case), grads):
            assert g.abs().max() > 0, f"{case} {k}: zero reference gradient"
            fh.create_dataset(k, data=g.numpy())
        fh.create_dataset("logits", data=logits.detach().numpy())
        fh.create_dataset("h_last", data=h_last.detach().numpy())
    print(f"{case}: loss = {loss.item():.12f}")
    for name in sorted(os.listdir(d)):
        print(f"  {name:15s} {os.path.getsize(os.path.join(d, name)):6d} bytes")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="tests/fixtures/parity")
    args = ap.parse_args()
    gradcheck_tiny()
    torch.manual_seed(1)
    x = torch.rand(B, T, P)
    y = torch.randint(0, Q, (B,))
    for case in CASES:
        write_case(args.out, case, x, y)


if __name__ == "__main__":
    main()
