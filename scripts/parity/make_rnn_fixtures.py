"""PyTorch reference fixtures for the LSTM and GRU parity tests.

Checks: the Rust harness's hand-written forward pass and gradients of its "lstm"
and "gru" cells against PyTorch's own torch.nn.LSTM / torch.nn.GRU (one layer,
batch_first) with autograd, computed in float64.

Writes, for each case in {lstm, gru}, to <out>/<case>/:
  spec.toml       model/task/train config read by the Rust harness
  checkpoint.h5   float32 parameters: cell/weight_ih, cell/weight_hh, cell/bias_ih,
                  cell/bias_hh (PyTorch's weight_ih_l0 etc.), decoder/weight, decoder/bias
  batch.h5        x float32 [B, T, 1] in [0, 1], y int64 [B]
  expected.h5     float64 loss, d loss / d param (same paths), logits, h_last

Model (PyTorch's gate orders: LSTM i, f, g, o; GRU r, z, n; h_0 = c_0 = 0):
  LSTM  gates = x W_ih^T + b_ih + h W_hh^T + b_hh;  c' = f c + i g;  h' = o tanh(c')
  GRU   r, z = sigma(...);  n = tanh(W_in x + b_in + r (W_hn h + b_hn));  h' = (1 - z) n + z h
  logits = h_T D^T + c;  loss = mean cross-entropy.

Rerun (from the repository root, deterministic):
  python scripts/parity/make_rnn_fixtures.py --out tests/fixtures/parity
"""
import argparse
import os

import h5py
import numpy as np
import torch
import torch.nn.functional as F

N, P, Q, B, T = 16, 1, 10, 6, 30
CELLS = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
# PyTorch state-dict key -> checkpoint path.
NAMES = {"weight_ih_l0": "cell/weight_ih", "weight_hh_l0": "cell/weight_hh",
         "bias_ih_l0": "cell/bias_ih", "bias_hh_l0": "cell/bias_hh"}
PARAMS = list(NAMES.values()) + ["decoder/weight", "decoder/bias"]

SPEC = """# Parity fixture made by scripts/parity/make_rnn_fixtures.py (PyTorch reference).
[model]
kind = "{kind}"
hidden = 16

[task]
name = "smnist"

[train]
epochs = 1
batch_size = 6
lr = 0.003
seed = 1
"""


def make_inputs():
    """float32 parameters of both models (PyTorch's default init) and one batch."""
    torch.manual_seed(1)
    ckpts = {}
    for kind, cls in CELLS.items():
        rnn, dec = cls(P, N, batch_first=True), torch.nn.Linear(N, Q)
        ckpt = {NAMES[k]: v.detach() for k, v in rnn.state_dict().items()}
        ckpt["decoder/weight"], ckpt["decoder/bias"] = dec.weight.detach(), dec.bias.detach()
        ckpts[kind] = {k: v.float() for k, v in ckpt.items()}
    x = torch.rand(B, T, P)
    y = torch.randint(0, Q, (B,))
    return ckpts, x, y


def forward(kind, ckpt, x, y):
    """float64 loss, logits and last hidden state; returns them with the parameter tensors."""
    rnn = CELLS[kind](P, N, batch_first=True).double()
    with torch.no_grad():
        for key, name in NAMES.items():
            getattr(rnn, key).copy_(ckpt[name].double())  # float32 values are the truth
    D = ckpt["decoder/weight"].double().requires_grad_()
    c = ckpt["decoder/bias"].double().requires_grad_()
    out, _ = rnn(x.double())
    h_last = out[:, -1]
    logits = h_last @ D.T + c
    params = [getattr(rnn, key) for key in NAMES] + [D, c]
    return F.cross_entropy(logits, y), logits, h_last, params


def write_case(out, kind, ckpt, x, y):
    d = os.path.join(out, kind)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "spec.toml"), "w") as fh:
        fh.write(SPEC.format(kind=kind))
    with h5py.File(os.path.join(d, "checkpoint.h5"), "w") as fh:
        for k in PARAMS:
            fh.create_dataset(k, data=ckpt[k].numpy().astype(np.float32))
    with h5py.File(os.path.join(d, "batch.h5"), "w") as fh:
        fh.create_dataset("x", data=x.numpy().astype(np.float32))
        fh.create_dataset("y", data=y.numpy().astype(np.int64))

    loss, logits, h_last, params = forward(kind, ckpt, x, y)
    grads = torch.autograd.grad(loss, params)
    with h5py.File(os.path.join(d, "expected.h5"), "w") as fh:
        fh.attrs["made_by"] = f"torch {torch.__version__}"
        fh.create_dataset("loss", data=np.float64(loss.item()))
        for k, g in zip(PARAMS, grads):
            assert g.abs().max() > 0, f"{kind} {k}: zero gradient"
            fh.create_dataset(k, data=g.numpy())
        fh.create_dataset("logits", data=logits.detach().numpy())
        fh.create_dataset("h_last", data=h_last.detach().numpy())
    print(f"{kind}: loss = {loss.item():.12f}")
    for name in sorted(os.listdir(d)):
        print(f"  {name:15s} {os.path.getsize(os.path.join(d, name)):6d} bytes")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="tests/fixtures/parity")
    args = ap.parse_args()
    ckpts, x, y = make_inputs()
    for kind in CELLS:
        write_case(args.out, kind, ckpts[kind], x, y)


if __name__ == "__main__":
    main()
