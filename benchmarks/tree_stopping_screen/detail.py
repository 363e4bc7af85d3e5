import sys, pandas as pd
PEERS = ["LogReg", "HistGB", "HistGB ES", "LightGBM", "CL(HistGB ES)", "CL(LightGBM)"]
TREES = ["HistGB", "HistGB ES", "LightGBM"]
ref = pd.read_csv("/tmp/exp/trees_old.csv").pivot_table(index=["dataset", "noise", "seed"], columns="method", values="accuracy")
v = pd.concat([pd.read_csv(f) for f in sys.argv[2:]])
seeds = [int(s) for s in sys.argv[1].split(",")]
v = v[v.seed.isin(seeds)]
v["key"] = v.variant + "-" + v.grid + "-" + v.rule
a = v.pivot_table(index=["dataset", "noise"], columns="key", values="accuracy") * 100
r = ref[ref.index.get_level_values("seed").isin(seeds)].groupby(level=[0, 1]).mean() * 100
best = r[PEERS].max(axis=1).where(r.index.get_level_values(1) != "none", r[TREES].max(axis=1))
gap = a.sub(best.loc[a.index], axis=0)
cols = [c for c in gap if c.endswith("acc")]
print(gap[cols].round(2).to_string())
