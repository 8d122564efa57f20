"""Serving latency of a finished run: `recommend` one user at a time (p50/p95 over 200 users), `recommend_many`
for all users in one call (users/s), and the cold-start paths (new-user fold-in, similar items, text search).

    python bench/serve_latency.py --out-dir OUT_DIR [--scale-n N] [--users 200] [--json results.json]

Prints a markdown table, the machine (cores, RAM) and how busy the machine was with other work meanwhile:
timings on a shared box are only comparable together with that line.
"""
from __future__ import annotations
import argparse, os, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import offline_env, machine, machine_line, LoadMeter, write_json


def _pct(xs, q) -> float:
    import numpy as np
    return float(np.percentile(np.asarray(xs) * 1000, q))


def timed(f, args) -> list[float]:
    "Seconds of f(a) for each a."
    out = []
    for a in args:
        t = time.perf_counter(); f(a); out.append(time.perf_counter() - t)
    return out


def bench(out_dir, scale_n=None, n_users:int=200, n_cold:int=20, seed:int=0) -> dict:
    import numpy as np, pandas as pd
    from hybrid_recommender.serve import HybridRecommender
    rng = np.random.default_rng(seed)
    t = time.perf_counter(); rec = HybridRecommender.load(out_dir, scale_n); load_s = time.perf_counter() - t
    users = rec.users[rng.permutation(rec.n_users)[:n_users]]
    for u in users[:3]: rec.recommend(u)                                   # warm-up: lazy imports, first FAISS / LightGBM calls
    res = {'run': str(rec.out_dir), 'scale_n': rec.scale_n, 'users': rec.n_users, 'items': rec.n_items, 'history_rows': len(rec.history),
           'candidates_per_user': int(sum(rec.n.values())), 'load_s': round(load_s, 2)}
    with LoadMeter() as lm:
        one = timed(lambda u: rec.recommend(u, k=10), users)
        t = time.perf_counter(); rec.recommend_many(rec.users, k=10); batch_s = time.perf_counter() - t
        hist = rec.history.assign(user_id=np.asarray(rec.users, dtype=object)[rec.history.uid], parent_asin=rec._asin[rec.history.iid])
        cold_users = users[:n_cold]
        lists = [hist[hist.user_id == u].parent_asin.tolist()[-10:] for u in cold_users]
        rec.recommend_for_history(lists[0])                                   # warm-up: item-item weights, ALS index
        cold = timed(lambda l: rec.recommend_for_history(l, k=10), lists)
        items = rec._asin[rng.permutation(rec.n_items)[:50]]
        sim = timed(lambda a: rec.similar_items(a, k=10), items)
        try:
            t = time.perf_counter(); rec.search('a gift for someone who likes music and movies'); first_search = time.perf_counter() - t
            srch = timed(lambda q: rec.search(q, k=10), [rec._name[i][:60] for i in rng.permutation(rec.n_items)[:20]])
        except ValueError as e: first_search, srch = float('nan'), []; print(f"search skipped: {e}")
    res.update({'recommend_p50_ms': _pct(one, 50), 'recommend_p95_ms': _pct(one, 95), 'recommend_mean_ms': float(np.mean(one) * 1000), 'one_at_a_time_users': len(one),
                'batch_users': rec.n_users, 'batch_s': round(batch_s, 2), 'batch_users_per_s': rec.n_users / batch_s,
                'new_user_p50_ms': _pct(cold, 50), 'new_user_p95_ms': _pct(cold, 95), 'similar_p50_ms': _pct(sim, 50),
                'search_first_s': round(first_search, 2), 'search_p50_ms': _pct(srch, 50) if srch else float('nan'),
                'load': lm.result, 'omp_wait_policy': os.environ.get('OMP_WAIT_POLICY', '(default)')})
    return res


def markdown(r:dict, m:dict) -> str:
    rows = [('load the run (fit retrievers)', f"{r['load_s']:.1f} s"),
            (f"`recommend` one user at a time, p50 / p95 ({r['one_at_a_time_users']} users)", f"{r['recommend_p50_ms']:.0f} / {r['recommend_p95_ms']:.0f} ms"),
            (f"`recommend_many` all {r['batch_users']} users in one call", f"{r['batch_users_per_s']:.0f} users/s ({r['batch_s']:.1f} s)"),
            ('`recommend_for_history` (10 items), p50 / p95', f"{r['new_user_p50_ms']:.0f} / {r['new_user_p95_ms']:.0f} ms"),
            ('`similar_items`, p50', f"{r['similar_p50_ms']:.1f} ms"),
            ('`search`, p50 (first call incl. model load)', f"{r['search_p50_ms']:.1f} ms ({r['search_first_s']:.1f} s)")]
    head = (f"**{Path(r['run']).name}** (SCALE_N={r['scale_n']}): {r['users']:,} users, {r['items']:,} items, {r['history_rows']:,} history rows, "
            f"{r['candidates_per_user']} candidates requested per user\n\n| measure | value |\n|---|---|\n")
    ld = r['load']
    return (head + '\n'.join(f'| {a} | {b} |' for a, b in rows) + f"\n\n{machine_line(m)}\n"
            f"other processes kept {ld['other_cores_busy']} cores busy on average during the measurement (load average {ld['loadavg_start']} -> {ld['loadavg_end']}); OMP_WAIT_POLICY={r['omp_wait_policy']}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out-dir', '--out_dir', required=True, help="the run's folder (the job's OUT_DIR)")
    p.add_argument('--scale-n', '--scale_n', default=None, help="the run's SCALE_N (default: the folder's only run)")
    p.add_argument('--users', type=int, default=200, help='users asked one at a time')
    p.add_argument('--json', default=None, help='also write the results to this JSON file')
    a = p.parse_args(argv)
    offline_env()
    r = bench(a.out_dir, a.scale_n, a.users); m = machine()
    print(markdown(r, m))
    if a.json: write_json(Path(a.json), {'results': r, 'machine': m})


if __name__ == '__main__': main()
