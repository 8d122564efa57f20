#!/usr/bin/env python
"""Item-item models by item blocks (#26): ItemKNN's similarity and EASE's Gram matrix, one piece vs blocks vs blocks on a
LocalCluster; and the baseline grids with shared work vs every point fitted afresh.

    python bench/item_blocks.py                          # 5M synthetic rows (item models) + 200k (grids), before = be9eec4
    python bench/item_blocks.py --rows 500000 --grid-rows 200000 --before be9eec4

Item models: the train matrix of the synthetic set at `--rows` (built once, kept under $BENCH_OUT/item_blocks as .npz), then
in a fresh process each: `itemknn_similarity(X, 100, 0)` and `ease_weights(X, 250, cap)` with the code at `--before` (the
whole XᵀX / the sparse Gram product in one piece) and with this working tree, here and on a 2-worker LocalCluster. Per run:
wall and CPU seconds, peak RSS (VmHWM) of the process and of each worker, and a digest of the result (the same matrix on
every side). Grids: `eval.tune` of ItemKNN ('small' grid: nbrs 50/200 x shrink 0/50) and EASE (λ 50/250/1000) on the
synthetic set at `--grid-rows` (TUNE_USERS 5,000), before vs after, with the tables compared. Writes results/item_blocks.json, .md.
"""
from __future__ import annotations
import argparse, hashlib, json, os, subprocess, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, offline_env, machine, machine_line, write_json, _vmhwm_gb

OUT = Path(os.environ.get('BENCH_OUT', '/tmp/bench_out')) / 'item_blocks'
GRIDS = {'ItemKNN': dict(nbrs=[50, 200], shrink=[0, 50]), 'EASE': dict(lam=[50, 250, 1000])}   # job.BASELINE_GRIDS['small']


def make(rows: int) -> Path:
    "The binary train matrix of the synthetic set at `rows` (kept between runs)."
    p = OUT / f'train_{rows}.npz'
    if p.exists(): return p
    import numpy as np, scipy.sparse as sp
    from hybrid_recommender.data import synthetic_reviews, prepare, to_csr
    OUT.mkdir(parents=True, exist_ok=True); t0 = time.perf_counter()
    d = prepare(*synthetic_reviews(rows, seed=7))
    X = (to_csr(d.train, d.n_users, d.n_items) > 0).astype(np.float32)
    tmp = OUT / f'.train_{rows}.npz'; sp.save_npz(tmp, X); tmp.rename(p)
    print(f'[data] {rows:,} rows -> X {X.shape}, {X.nnz:,} entries in {time.perf_counter() - t0:.0f} s', flush=True)
    return p


def _digest(*arrays) -> str:
    h = hashlib.sha1()
    for a in arrays: h.update(memoryview(a).cast('B'))
    return h.hexdigest()[:16]


def child(path: str, what: str, cluster: bool, cap: int) -> dict:
    "One item model in this fresh process; returns seconds, CPU, peak RSS (self and workers), digest."
    offline_env()
    import numpy as np, scipy.sparse as sp, inspect
    from hybrid_recommender import mf
    X = sp.load_npz(path).tocsr(); kw = {}
    client = None
    if cluster:
        from hybrid_recommender.data import cluster_client
        client = cluster_client('local', n_workers=2); kw['client'] = client
    fn = mf.itemknn_similarity if what == 'itemknn' else mf.ease_weights
    if 'client' not in inspect.signature(fn).parameters and cluster: raise SystemExit('this code has no cluster path')
    base = _vmhwm_gb(); t0, c0 = time.perf_counter(), time.process_time()
    if what == 'itemknn': W = fn(X, 100, 0.0, **kw); dig = _digest(W.indptr.astype(np.int64), W.indices.astype(np.int64), W.data)
    else: B, items = fn(X, 250.0, cap, **kw); dig = _digest(np.ascontiguousarray(B), items.astype(np.int64))
    res = dict(seconds=round(time.perf_counter() - t0, 2), cpu_seconds=round(time.process_time() - c0, 2),
               peak_rss_gb=round(_vmhwm_gb(), 3), rss_before_gb=round(base, 3), digest=dig)
    if client is not None:
        res['workers_peak_rss_gb'] = sorted(round(v, 3) for v in client.run(_vmhwm_gb).values()); client.close()
    return res


def grid_child(rows: int) -> dict:
    "Tune ItemKNN and EASE on the synthetic set at `rows` with this process's package: seconds and tables."
    offline_env()
    from hybrid_recommender.data import synthetic_reviews, prepare
    from hybrid_recommender.eval import tune
    from hybrid_recommender.mf import fit_itemknn, fit_ease
    from functools import partial
    d = prepare(*synthetic_reviews(rows, seed=42)); out = {}
    for name, fn in (('ItemKNN', fit_itemknn), ('EASE', partial(fit_ease, max_items=20_000))):
        t0 = time.perf_counter(); best, t = tune(fn, GRIDS[name], d, 10, 'NDCG', name, 5000, 42)
        out[name] = dict(seconds=round(time.perf_counter() - t0, 2), best=best, table=t.drop(columns='seconds').round(12).to_dict('records'))
    return out


def run(cmd_args: list, pkg: Path | None) -> dict:
    env = {**os.environ, 'PYTHONPATH': str(pkg) if pkg else str(Path(__file__).resolve().parents[1]), 'OMP_WAIT_POLICY': 'PASSIVE'}
    p = subprocess.run([sys.executable, __file__, *cmd_args], env=env, capture_output=True, text=True)
    if p.returncode: raise SystemExit(f'[item_blocks] {cmd_args} failed:\n{p.stderr[-3000:]}')
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--rows', type=int, default=5_000_000); ap.add_argument('--grid-rows', type=int, default=200_000)
    ap.add_argument('--before', default='be9eec4'); ap.add_argument('--cap', type=int, default=20_000)
    ap.add_argument('--grids-only', action='store_true', help='only the grids (the item-model rows kept from the results file)')
    ap.add_argument('--child', nargs=4); ap.add_argument('--grid-child', type=int)
    a = ap.parse_args()
    if a.child: print(json.dumps(child(a.child[0], a.child[1], a.child[2] == '1', int(a.child[3])))); return
    if a.grid_child: print(json.dumps(grid_child(a.grid_child))); return
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from speed import snapshot
    before = snapshot(a.before)
    res = {'kind': 'item_blocks', 'time': time.strftime('%Y-%m-%d %H:%M:%S'), 'machine': machine(), 'rows': a.rows, 'before': a.before,
           'cap': a.cap, 'grid_rows': a.grid_rows, 'models': {}, 'grids': {}}
    if a.grids_only: res = {**json.loads((RESULTS / 'item_blocks.json').read_text()), 'grid_rows': a.grid_rows, 'grids': {}}
    for what in () if a.grids_only else ('itemknn', 'ease'):
        path = make(a.rows)
        for side, pkg, cl in (('before', before, '0'), ('after', None, '0'), ('after, cluster', None, '1')):
            r = run(['--child', str(path), what, cl, str(a.cap)], pkg); res['models'][f'{what} | {side}'] = r
            print(f'[item_blocks] {what:8s} {side:15s} {r["seconds"]:7.1f} s  CPU {r["cpu_seconds"]:7.1f} s  peak {r["peak_rss_gb"]:.2f} GB '
                  f'workers {r.get("workers_peak_rss_gb", "-")}  {r["digest"]}', flush=True)
    for side, pkg in (('before', before), ('after', None)):
        r = run(['--grid-child', str(a.grid_rows)], pkg); res['grids'][side] = r
        print(f'[item_blocks] grids {side}: ' + ', '.join(f'{m} {v["seconds"]:.1f} s (best {v["best"]})' for m, v in r.items()), flush=True)
    res['grids_same_tables'] = all(res['grids']['before'][m]['table'] == res['grids']['after'][m]['table'] for m in GRIDS)
    write_json(RESULTS / 'item_blocks.json', res); report(res)


def report(res: dict):
    L = [f"# Item-item models by item blocks ({res['time']}; {machine_line(res['machine'])})", '',
         f"Synthetic {res['rows']:,} rows (train matrix), before = {res['before']}, EASE cap {res['cap']:,}; each run a fresh process.", '',
         '| model | side | wall s | CPU s | peak RSS GB (process) | workers GB | result digest |', '|---|---|---|---|---|---|---|']
    for k, r in res['models'].items():
        m, s = k.split(' | ')
        L.append(f"| {m} | {s} | {r['seconds']} | {r['cpu_seconds']} | {r['peak_rss_gb']} | {', '.join(map(str, r.get('workers_peak_rss_gb', []))) or '–'} | `{r['digest']}` |")
    L += ['', f"Tuning grids (`eval.tune`, synthetic {res.get('grid_rows', '')} rows, TUNE_USERS 5,000), seconds: " +
          '; '.join(f"{m} {res['grids']['before'][m]['seconds']} → {res['grids']['after'][m]['seconds']}" for m in GRIDS) +
          f"; same tables: {res['grids_same_tables']}."]
    (RESULTS / 'item_blocks.md').write_text('\n'.join(L) + '\n'); print('\n'.join(L))


if __name__ == '__main__': main()
