import sys, pandas as pd, numpy as np
PEERS = ["LogReg", "HistGB", "HistGB ES", "LightGBM", "CL(HistGB ES)", "CL(LightGBM)"]
TREES = ["HistGB", "HistGB ES", "LightGBM"]
ref = pd.read_csv("/tmp/exp/trees_old.csv")
ref = ref.pivot_table(index=["dataset", "noise", "seed"], columns="method", values="accuracy")
v = pd.concat([pd.read_csv(f) for f in sys.argv[1:]])
rows = []
for key, g in v.groupby(["variant", "grid", "rule"]):
    acc = g.set_index(["dataset", "noise", "seed"]).accuracy
    for label, seeds in (("tune", [0, 1]), ("held", [2]), ("all", [0, 1, 2])):
        a = acc[acc.index.get_level_values("seed").isin(seeds)].groupby(level=[0, 1]).mean() * 100
        r = ref[ref.index.get_level_values("seed").isin(seeds)].groupby(level=[0, 1]).mean() * 100
        if a.empty: continue
        r = r.loc[a.index]
        clean = a.xs("none", level=1) - r.xs("none", level=1)[TREES].max(axis=1)
        noisy_idx = a.index.get_level_values(1) != "none"
        gap = a[noisy_idx] - r[noisy_idx][PEERS].max(axis=1)
        rows.append(dict(variant=key[0], grid=key[1], rule=key[2], seeds=label, n=len(a),
                         clean_ok=f"{(clean >= -0.5).sum()}/{len(clean)}", clean_worst=round(clean.min(), 2),
                         noisy_ok=f"{(gap >= -1e-9).sum()}/{len(gap)}", behind1=int((gap < -1).sum()),
                         noisy_worst=round(gap.min(), 2), mean_all=round(a.mean(), 3)))
print(pd.DataFrame(rows).sort_values(["seeds", "variant", "grid", "rule"]).to_string(index=False))
