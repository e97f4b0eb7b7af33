"""PyTorch reference fixtures for the Lipschitz RNN parity tests.

Checks: the Rust harness's hand-written forward pass and gradients of the
Lipschitz RNN (Erichson et al., ICLR 2021) against an independent PyTorch
autograd implementation, computed in float64, for the "euler" and "rk2" schemes.

Writes, for each case in {lipschitz_euler, lipschitz_rk2}, to <out>/<case>/:
  spec.toml       model/task/train config read by the Rust harness
  checkpoint.h5   float32 parameters (cell/M_A, cell/M_W, encoder/*, decoder/*)
  batch.h5        x float32 [B, T, 1] in [0, 1], y int64 [B]
  expected.h5     float64 loss, d loss / d param (same paths), logits, h_last

Model (row vectors, h is [B, N]):
  A = (1-beta)(M_A + M_A^T) + beta(M_A - M_A^T) - gamma_A I   (W likewise)
  z_t = x_t U^T + b;  f(h, z) = alpha h A + tanh(h W + z);  h_0 = 0
  euler: h' = h + eps f(h, z_t)
  rk2:   k1 = f(h, z_t); k2 = f(h + eps/2 k1, z_t); h' = h + eps k2
  logits = h_T D^T + c;  loss = mean cross-entropy.

Rerun (from the repository root, deterministic):
  python scripts/parity/make_lipschitz_fixtures.py --out tests/fixtures/parity
"""
import argparse
import os

import h5py
import numpy as np
import torch
import torch.nn.functional as F

N, P, Q, B, T = 16, 1, 10, 6, 30
EPS, BETA, GAMMA_A, GAMMA_W, ALPHA = 0.1, 0.75, 0.01, 0.02, 1.0
PARAMS = ["cell/M_A", "cell/M_W", "encoder/weight", "encoder/bias", "decoder/weight", "decoder/bias"]

SPEC = """# Parity fixture made by scripts/parity/make_lipschitz_fixtures.py (PyTorch reference).
[model]
kind = "lipschitz"
hidden = 16
scheme = "{scheme}"
eps = 0.1
beta = 0.75
gamma_a = 0.01
gamma_w = 0.02
init_std = 0.1
alpha = 1.0

[task]
name = "smnist"

[train]
epochs = 1
batch_size = 6
lr = 0.003
seed = 1
"""


def structured(M, gamma):
    I = torch.eye(M.shape[0], dtype=M.dtype)
    return (1 - BETA) * (M + M.T) + BETA * (M - M.T) - gamma * I


def forward(scheme, x, y, M_A, M_W, U, b, D, c):
    """Returns (loss, logits, h_last). x: [B, T, p], y: [B] int64."""
    A, W = structured(M_A, GAMMA_A), structured(M_W, GAMMA_W)
    f = lambda h, z: ALPHA * (h @ A) + torch.tanh(h @ W + z)
    h = torch.zeros(x.shape[0], M_A.shape[0], dtype=x.dtype)
    for t in range(x.shape[1]):
        z = x[:, t] @ U.T + b
        if scheme == "euler":
            h = h + EPS * f(h, z)
        else:
            h = h + EPS * f(h + 0.5 * EPS * f(h, z), z)
    logits = h @ D.T + c
    return F.cross_entropy(logits, y), logits, h


def gradcheck_tiny():
    g = torch.Generator().manual_seed(0)
    n, p, q, bsz, steps = 4, 2, 3, 2, 5
    x = torch.rand(bsz, steps, p, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 2])
    shapes = [(n, n), (n, n), (n, p), (n,), (q, n), (q,)]
    params = [(0.5 * torch.randn(s, generator=g, dtype=torch.float64)).requires_grad_() for s in shapes]
    for scheme in ("euler", "rk2"):
        ok = torch.autograd.gradcheck(lambda *ps: forward(scheme, x, y, *ps)[0], params)
        print(f"gradcheck[{scheme}]: {ok}")


def make_inputs():
    torch.manual_seed(1)
    M_A = 0.3 * torch.randn(N, N)
    M_W = 0.3 * torch.randn(N, N)
    enc, dec = torch.nn.Linear(P, N), torch.nn.Linear(N, Q)
    ckpt = {"cell/M_A": M_A, "cell/M_W": M_W,
            "encoder/weight": enc.weight.detach(), "encoder/bias": enc.bias.detach(),
            "decoder/weight": dec.weight.detach(), "decoder/bias": dec.bias.detach()}
    x = torch.rand(B, T, P)
    y = torch.randint(0, Q, (B,))
    return {k: v.float() for k, v in ckpt.items()}, x, y


def write_case(out, scheme, ckpt, x, y):
    d = os.path.join(out, f"lipschitz_{scheme}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "spec.toml"), "w") as fh:
        fh.write(SPEC.format(scheme=scheme))
    with h5py.File(os.path.join(d, "checkpoint.h5"), "w") as fh:
        for k in PARAMS:
            fh.create_dataset(k, data=ckpt[k].numpy().astype(np.float32))
    with h5py.File(os.path.join(d, "batch.h5"), "w") as fh:
        fh.create_dataset("x", data=x.numpy().astype(np.float32))
        fh.create_dataset("y", data=y.numpy().astype(np.int64))

    params = [ckpt[k].double().requires_grad_() for k in PARAMS]  # float32 values are the truth
    loss, logits, h_last = forward(scheme, x.double(), y, *params)
    grads = torch.autograd.grad(loss, params)
    with h5py.File(os.path.join(d, "expected.h5"), "w") as fh:
        fh.attrs["made_by"] = f"torch {torch.__version__}"
        fh.create_dataset("loss", data=np.float64(loss.item()))
        for k, g in zip(PARAMS, grads):
            fh.create_dataset(k, data=g.numpy())
        fh.create_dataset("logits", data=logits.detach().numpy())
        fh.create_dataset("h_last", data=h_last.detach().numpy())
    print(f"lipschitz_{scheme}: loss = {loss.item():.12f}")
    for name in sorted(os.listdir(d)):
        print(f"  {name:15s} {os.path.getsize(os.path.join(d, name)):6d} bytes")
    return loss.item()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="tests/fixtures/parity")
    args = ap.parse_args()
    gradcheck_tiny()
    ckpt, x, y = make_inputs()
    losses = [write_case(args.out, s, ckpt, x, y) for s in ("euler", "rk2")]
    assert abs(losses[0] - losses[1]) > 1e-9, "euler and rk2 losses should differ"


if __name__ == "__main__":
    main()
