"""Dense-Hessian fixtures for `lrnn analyze hessian` (tests/hessian.rs), from PyTorch.

For every cell kind, the loss of one small batch (mean cross-entropy of the last state's
logits, as the parity fixtures define it) is differentiated twice by PyTorch's autograd in
float64, and the dense Hessian H over all parameters (in the checkpoint's tensor order) is
formed. Written to tests/fixtures/hessian/<case>/hessian.h5:
  eigenvalues   the 5 largest eigenvalues of H, descending (numpy eigvalsh)
  trace         tr H
  v<k>/<name>   two seeded Gaussian probe directions, per parameter tensor
  hv<k>/<name>  H v<k>, per parameter tensor
The cases reuse the parity fixtures' spec, checkpoint and batch (tests/fixtures/parity/<case>),
except vanilla and residual, whose spec.toml, checkpoint.h5 and batch.h5 are written here:
  vanilla   h' = tanh(h W + z)          (erichson/LipschitzRNN simpleRNN, row convention)
  residual  h' = h + eps tanh(h W + z)  (resRNN), eps = 0.1
with z = x U^T + b.

Rerun (from the repository root, deterministic; needs torch, h5py, numpy):
  python scripts/analysis/make_hessian_fixtures.py
"""
import importlib.util
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PARITY = os.path.join(ROOT, "tests/fixtures/parity")
OUT = os.path.join(ROOT, "tests/fixtures/hessian")


def load(name):
    path = os.path.join(ROOT, "scripts/parity", name + ".py")
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


lip = load("make_lipschitz_fixtures")
rnn = load("make_rnn_fixtures")
cells = load("make_cell_fixtures")


def read_h5(path):
    out = {}
    with h5py.File(path) as f:
        f.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out


def lstm_gru_loss(kind):
    """The parity fixture's torch.nn.LSTM / GRU, called with our tensors as its parameters."""
    module = rnn.CELLS[kind](rnn.P, rnn.N, batch_first=True).double()

    def loss(x, y, p):
        weights = {key: p[name] for key, name in rnn.NAMES.items()}
        out, _ = torch.func.functional_call(module, weights, (x,))
        logits = out[:, -1] @ p["decoder/weight"].T + p["decoder/bias"]
        return F.cross_entropy(logits, y)

    return loss


def tanh_rnn_loss(eps):
    def loss(x, y, p):
        W, U, b = p["cell/W"], p["encoder/weight"], p["encoder/bias"]
        h = torch.zeros(x.shape[0], W.shape[0], dtype=x.dtype)
        for t in range(x.shape[1]):
            step = torch.tanh(h @ W + x[:, t] @ U.T + b)
            h = step if eps is None else h + eps * step
        return F.cross_entropy(h @ p["decoder/weight"].T + p["decoder/bias"], y)

    return loss


CASES = {
    "lipschitz_euler": lambda x, y, p: lip.forward("euler", x, y, *[p[k] for k in lip.PARAMS])[0],
    "lipschitz_rk2": lambda x, y, p: lip.forward("rk2", x, y, *[p[k] for k in lip.PARAMS])[0],
    "lstm": lstm_gru_loss("lstm"),
    "gru": lstm_gru_loss("gru"),
    "antisymmetric": lambda x, y, p: cells.forward("antisymmetric", x, y, p)[0],
    "antisymmetric_gated": lambda x, y, p: cells.forward("antisymmetric_gated", x, y, p)[0],
    "cayley": lambda x, y, p: cells.forward("cayley", x, y, p)[0],
    "cornn": lambda x, y, p: cells.forward("cornn", x, y, p)[0],
    "vanilla": tanh_rnn_loss(None),
    "residual": tanh_rnn_loss(0.1),
}

TANH_SPEC = """# Hessian fixture made by scripts/analysis/make_hessian_fixtures.py (PyTorch reference).
[model]
kind = "{kind}"
hidden = 16
{extra}
[task]
name = "smnist"

[train]
epochs = 1
batch_size = 6
lr = 0.003
seed = 1
"""


def write_tanh_case(case, seed):
    """Order-one W (so the recurrence matters), nn.Linear-like maps, one smnist-shaped batch."""
    d = os.path.join(OUT, case)
    os.makedirs(d, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    n, p, q, b, t = 16, 1, 10, 6, 30
    uni = lambda shape, bound: ((2 * torch.rand(shape, generator=g, dtype=torch.float64) - 1) * bound)
    ckpt = {
        "cell/W": 0.3 * torch.randn(n, n, generator=g, dtype=torch.float64),
        "encoder/weight": uni((n, p), 1.0),
        "encoder/bias": uni((n,), 1.0),
        "decoder/weight": uni((q, n), n ** -0.5),
        "decoder/bias": uni((q,), n ** -0.5),
    }
    with open(os.path.join(d, "spec.toml"), "w") as fh:
        extra = 'eps = 0.1' if case == "residual" else ""
        fh.write(TANH_SPEC.format(kind=case, extra=extra))
    with h5py.File(os.path.join(d, "checkpoint.h5"), "w") as fh:
        for k, v in ckpt.items():
            fh.create_dataset(k, data=v.numpy().astype(np.float32))
    with h5py.File(os.path.join(d, "batch.h5"), "w") as fh:
        fh.create_dataset("x", data=torch.rand(b, t, p, generator=g).numpy().astype(np.float32))
        fh.create_dataset("y", data=torch.randint(0, q, (b,), generator=g).numpy().astype(np.int64))
    return d


def main():
    for i, (case, loss) in enumerate(CASES.items()):
        src = write_tanh_case(case, 10 + i) if case in ("vanilla", "residual") else os.path.join(PARITY, case)
        ckpt = read_h5(os.path.join(src, "checkpoint.h5"))  # float32 values are the truth
        batch = read_h5(os.path.join(src, "batch.h5"))
        x = torch.tensor(batch["x"], dtype=torch.float64)
        y = torch.tensor(batch["y"], dtype=torch.int64)
        names = sorted(ckpt)
        shapes = [ckpt[k].shape for k in names]
        sizes = [int(np.prod(s)) for s in shapes]
        flat0 = torch.cat([torch.tensor(ckpt[k], dtype=torch.float64).reshape(-1) for k in names])

        def f(flat):
            parts = torch.split(flat, sizes)
            return loss(x, y, {k: v.reshape(s) for k, v, s in zip(names, parts, shapes)})

        H = torch.autograd.functional.hessian(f, flat0).numpy()
        asym = np.abs(H - H.T).max() / np.abs(H).max()
        assert asym < 1e-10, f"{case}: Hessian not symmetric ({asym:.1e})"
        H = 0.5 * (H + H.T)
        eig = np.linalg.eigvalsh(H)[::-1]
        gen = np.random.default_rng(100 + i)
        d = os.path.join(OUT, case)
        os.makedirs(d, exist_ok=True)
        with h5py.File(os.path.join(d, "hessian.h5"), "w") as fh:
            fh.attrs["made_by"] = f"torch {torch.__version__}, numpy {np.__version__}"
            fh.attrs["source"] = os.path.relpath(src, ROOT)
            fh.create_dataset("loss", data=np.float64(f(flat0).item()))
            fh.create_dataset("eigenvalues", data=eig[:5])
            fh.create_dataset("trace", data=np.float64(np.trace(H)))
            for k in range(2):
                v = gen.standard_normal(flat0.numel())
                hv = H @ v
                for name, a, b in zip(names, np.split(v, np.cumsum(sizes)[:-1]),
                                      np.split(hv, np.cumsum(sizes)[:-1])):
                    fh.create_dataset(f"v{k}/{name}", data=a)
                    fh.create_dataset(f"hv{k}/{name}", data=b)
        print(f"{case:20s} {flat0.numel():5d} params  lambda_max {eig[0]: .6e}  trace {np.trace(H): .6e}")


if __name__ == "__main__":
    sys.exit(main())
