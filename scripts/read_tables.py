"""Reads every table `lrnn reproduce` wrote back in Python, from CSV (pandas, polars) and
HDF5 (h5py, into pandas), and checks the three agree row for row.

    python scripts/read_tables.py [results/tables]        # needs pandas, polars, h5py
"""
import math
import sys
from pathlib import Path

import h5py
import pandas as pd
import polars as pl

tables = Path(sys.argv[1] if len(sys.argv) > 1 else "results/tables")
for csv in sorted(tables.glob("*.csv")):
    with h5py.File(csv.with_suffix(".h5")) as f:
        g = f["table"]
        from_h5 = pd.DataFrame({c: g[c][()] for c in g.attrs["columns"]})
        profile = f.attrs["profile"]
    from_pandas = pd.read_csv(csv)
    from_polars = pl.read_csv(csv)
    assert list(from_h5.columns) == list(from_pandas.columns) == from_polars.columns
    assert len(from_h5) == len(from_pandas) == from_polars.height
    for a, b in zip(from_h5["ours"], from_pandas["ours"]):
        assert (math.isnan(a) and math.isnan(b)) or a == b, (a, b)
    print(f"{csv.stem}: {len(from_h5)} rows, {len(from_h5.columns)} columns, profile {profile}: CSV and HDF5 agree")
