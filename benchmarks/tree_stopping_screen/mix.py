import sys, glob, os, numpy as np, pandas as pd
sys.path.insert(0, "/tmp/exp"); from variants import choose, GRIDS
net_dir = sys.argv[1]; seeds = sys.argv[2].split(","); out = sys.argv[3]
MIXES = {"V0+V2": ("V0", "V2"), "V1+V2": ("V1", "V2"), "V0+V1": ("V0", "V1"), "V0": ("V0",), "V1": ("V1",), "V2": ("V2",)}
rows = []
for p in sorted(glob.glob(f"{net_dir}/*.npz")):
    name = os.path.basename(p)[:-4]
    if name.startswith("trees_"): continue
    dataset, noise, seed = name.rsplit("_", 2)
    if seed not in seeds: continue
    d = np.load(p, allow_pickle=True); y_te = np.searchsorted(d["classes"], d["y_te"])
    for mix, parts in MIXES.items():
        if not all(os.path.exists(f"/tmp/cache/trees_{v}_{name}.npz") for v in parts): continue
        ts = [np.load(f"/tmp/cache/trees_{v}_{name}.npz") for v in parts]
        oof = np.mean([t["oof"] for t in ts], 0); test = np.mean([t["test"] for t in ts], 0)
        for gn in ("g5", "g11"):
            a = choose(oof, d["network_oof"], d["targets"], d["weight"], GRIDS[gn], "acc")
            pr = a * test + (1 - a) * d["net_test"]
            rows.append(dict(dataset=dataset, noise=noise, seed=int(seed), variant=mix, grid=gn, rule="acc", weight=a,
                             accuracy=float(np.mean(pr.argmax(1) == y_te)), networks=float(np.mean(d["net_test"].argmax(1) == y_te)),
                             fit_s=float(d["fit_s"])))
pd.DataFrame(rows).to_csv(out, index=False)
