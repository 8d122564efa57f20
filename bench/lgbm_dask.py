#!/usr/bin/env python
"""Plain `LGBMRanker` vs `lightgbm.dask.DaskLGBMRanker` on the reranker's training-table shape, side by side.

    python bench/lgbm_dask.py                         # 0.5M, 2M, 5M rows (5M = the job's MAX_TRAIN_ROWS cap)
    python bench/lgbm_dask.py --rows 500000 --trees 50

The table has the job's shape (`sample_training`: one positive and 50 random pool rows per query, 40 float32
features, the positive's features shifted along a random direction) and is made here, so the comparison does not
depend on a cached run. Both learners get the job's `LGBM_DEFAULTS` with a fixed number of trees (no early
stopping, so they do the same work) on the same cores: the plain one with every core as threads in this process,
the Dask one on a `LocalCluster` (one single-threaded worker per core, whole query groups per partition).
Reported per size: wall seconds of the fit (table already in memory / on the workers), peak RSS of this process
and of each worker, and NDCG@10 on 20,000 held-out queries (the same learner family must reach the same quality).
Writes `results/lgbm_dask.json` and `results/lgbm_dask.md`.
"""
from __future__ import annotations
import argparse, json, sys, threading, time
from pathlib import Path
import numpy as np, pandas as pd
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, offline_env, machine, machine_line, write_json, _vmhwm_gb


def table(rows: int, seed: int, per_query: int = 51, n_feat: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    "(X float32, label, group sizes): queries of `per_query` rows, one positive each, shifted along a fixed direction."
    rng = np.random.default_rng(seed); q = rows // per_query; n = q * per_query
    X = rng.standard_normal((n, n_feat), dtype=np.float32)
    y = np.zeros(n, np.int32); y[np.arange(q) * per_query + rng.integers(0, per_query, q)] = 1
    w = np.random.default_rng(0).standard_normal(n_feat).astype(np.float32); w /= np.linalg.norm(w)
    X[y == 1] += 0.6 * w                                  # a weak signal, spread over all features
    return X, y, np.full(q, per_query, np.int64)


def ndcg10(model, X, y, g) -> float:
    "Mean NDCG@10 over queries with one positive: 1 / log2(rank + 1) when the positive ranks in the top 10."
    s = model.predict(X).reshape(len(g), g[0]); pos = y.reshape(len(g), g[0]).argmax(1)
    rank = (s > s[np.arange(len(g)), pos][:, None]).sum(1) + 1
    return float(np.where(rank <= 10, 1 / np.log2(rank + 1), 0.0).mean())


class Peak:
    "Peak RSS of this process while the block runs (sampled every 50 ms)."
    def __enter__(self):
        import psutil
        self.p, self.peak, self.stop = psutil.Process(), 0.0, False
        def watch():
            while not self.stop: self.peak = max(self.peak, self.p.memory_info().rss / 2**30); time.sleep(0.05)
        self.t = threading.Thread(target=watch, daemon=True); self.t.start(); return self
    def __exit__(self, *exc): self.stop = True; self.t.join()


def fit_plain(X, y, g, params):
    import lightgbm as lgb
    with Peak() as pk:
        t0 = time.perf_counter(); m = lgb.LGBMRanker(**params).fit(X, y, group=g); dt = time.perf_counter() - t0
    return m, {'seconds': round(dt, 2), 'client_peak_gb': round(pk.peak, 3)}


def fit_dask(X, y, g, params, client):
    import dask.array as da, lightgbm as lgb, resource
    workers = len(client.scheduler_info()['workers'])
    qb = np.array_split(np.arange(len(g)), workers)                          # whole query groups per partition
    rb = [int(g[b].sum()) for b in qb]
    with Peak() as pk:
        t0 = time.perf_counter()
        dX = da.from_array(X, chunks=(tuple(rb), X.shape[1])).persist(); dy = da.from_array(y, chunks=(tuple(rb),)).persist()
        dg = da.from_array(g, chunks=(tuple(len(b) for b in qb),)).persist()
        t1 = time.perf_counter()
        m = lgb.DaskLGBMRanker(client=client, **{**params, 'n_jobs': 1}).fit(dX, dy, group=dg); dt = time.perf_counter() - t1
        ship = t1 - t0
    peak = client.run(_vmhwm_gb)
    return m.to_local(), {'seconds': round(dt, 2), 'ship_seconds': round(ship, 2), 'client_peak_gb': round(pk.peak, 3),
                          'workers_peak_gb': sorted(round(v, 3) for v in peak.values())}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--rows', type=int, nargs='+', default=[500_000, 2_000_000, 5_000_000])
    ap.add_argument('--trees', type=int, default=100)
    a = ap.parse_args(); offline_env()
    from hybrid_recommender.ltr import LGBM_DEFAULTS
    from hybrid_recommender.data import cluster_client
    m = machine(); print(machine_line(m), flush=True)
    params = {**LGBM_DEFAULTS, 'n_estimators': a.trees, 'random_state': 42}
    Xt, yt, gt = table(20_000 * 51, seed=99)
    out = []
    for rows in a.rows:
        X, y, g = table(rows, seed=1)
        mp, rp = fit_plain(X, y, g, params)
        client = cluster_client('local')                                    # fresh workers per size: their peak RSS is this size's
        try: md, rd = fit_dask(X, y, g, params, client)
        finally: client.close()
        r = {'rows': int(len(X)), 'queries': int(len(g)), 'trees': a.trees, 'plain': {**rp, 'ndcg10': round(ndcg10(mp, Xt, yt, gt), 4)},
             'dask': {**rd, 'ndcg10': round(ndcg10(md, Xt, yt, gt), 4)}}
        print(json.dumps(r), flush=True); out.append(r); del X, y, g
    res = {'kind': 'lgbm_dask', 'time': time.strftime('%Y-%m-%d %H:%M:%S'), 'machine': m, 'params': params, 'results': out}
    write_json(RESULTS / 'lgbm_dask.json', res)
    L = [f"# Plain LGBMRanker vs DaskLGBMRanker ({res['time']})", '', machine_line(m), '',
         f"Job's LGBM_DEFAULTS, {a.trees} trees, no early stopping; plain = one process, all cores as threads; Dask = LocalCluster, one 1-thread worker per core.", '',
         '| rows | queries | plain fit s | Dask fit s | Dask ship s | plain peak GB | Dask client peak GB | Dask workers peak GB | NDCG@10 plain | NDCG@10 Dask |',
         '|---|---|---|---|---|---|---|---|---|---|']
    for r in out:
        p, d = r['plain'], r['dask']
        L.append(f"| {r['rows']:,} | {r['queries']:,} | {p['seconds']} | {d['seconds']} | {d['ship_seconds']} | {p['client_peak_gb']} | {d['client_peak_gb']} | "
                 f"{', '.join(map(str, d['workers_peak_gb']))} | {p['ndcg10']} | {d['ndcg10']} |")
    (RESULTS / 'lgbm_dask.md').write_text('\n'.join(L) + '\n'); print('\n'.join(L))


if __name__ == '__main__':
    main()
