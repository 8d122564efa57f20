#!/usr/bin/env python
"""Quality benchmark: the whole job (`eval.Job`) on every real set in ../shared/data that supports it, hybrid vs every baseline.

    python bench/quality.py                          # every set found in ../shared/data (or $HR_SHARED_DATA)
    python bench/quality.py --sets movielens100k     # one set
    python bench/quality.py --report                 # rebuild results/quality.md from the JSONs

Same split, same metric code, full ranking (see 05_eval). For every method: the @10 metrics, a 95% bootstrap CI of its
mean NDCG@10 and Recall@10 over test users, and the paired-bootstrap CI of the hybrid's NDCG@10 gain over it
(`eval.paired_bootstrap`, same resamples for both methods). One JSON per set in results/quality_<set>.json, the
table in results/quality.md. OUT_DIR is emptied first (artifact fingerprints do not cover code changes).
"""
from __future__ import annotations
import argparse, json, os, shutil, sys, time
from pathlib import Path
import numpy as np
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, REPO, offline_env, machine, machine_line, LoadMeter, write_json, code_version

OUT_ROOT = Path(os.environ.get('BENCH_OUT', '/tmp/bench_out')) / 'quality'
HYB = 'Hybrid (reranked)'


def shared_sets() -> dict:
    from hybrid_recommender.data import shared_data_dir
    d = shared_data_dir()
    if d is None: raise SystemExit('SKIP: ../shared/data not found (set HR_SHARED_DATA)')
    return {p.name: p for p in sorted(d.iterdir()) if p.is_dir()}


def _mean_ci(x: np.ndarray, n_boot: int, seed: int) -> tuple[float, float]:
    "95% percentile bootstrap CI of the mean of x."
    rng = np.random.default_rng(seed); n = len(x)
    means = np.array([x[rng.integers(0, n, n)].mean() for _ in range(n_boot)])
    return tuple(float(v) for v in np.percentile(means, [2.5, 97.5]))


def run_set(name: str, path: Path|None, extra: dict, n_boot: int, rows: int|None=None) -> dict:
    "One job on a shared set (path) or, with path None, on the synthetic shape `name` ('synthetic_<shape>') at `rows` rows."
    offline_env()
    import pandas as pd
    from hybrid_recommender.data import load_dataset_dir
    from hybrid_recommender.job import Job
    from hybrid_recommender.eval import per_user_metrics, paired_bootstrap
    out = OUT_ROOT / name
    if out.exists(): shutil.rmtree(out)
    if path is None: params = dict(DATA_SOURCE='synthetic', SYNTHETIC_SHAPE=name.split('_', 1)[1], SCALE_N=rows, OUT_DIR=str(out), SEED=42, **extra)
    else:
        rows = len(load_dataset_dir(path)[0])
        params = dict(DATA_SOURCE='local', DATA_PATH=str(path), SCALE_N=rows, OUT_DIR=str(out), SEED=42, **extra)
    print(f'[quality] {name}: {rows:,} rows, OUT_DIR={out}', flush=True)
    res = {'kind': 'quality', 'set': name, 'time': time.strftime('%Y-%m-%d %H:%M:%S'), 'machine': machine(), 'code': code_version(), 'params': params}
    try:
        with LoadMeter() as lm:
            job = Job(**params); job.run()
    except Exception as e:                                   # a set the job cannot run on (e.g. empty after k-core)
        res.update(status='skipped', reason=f'{type(e).__name__}: {e}'); print(f'[quality] {name}: SKIPPED ({res["reason"]})', flush=True)
        write_json(RESULTS / f'quality_{name}.json', res); return res
    D, K = job.D, job.P['K']; uids = np.sort(D.test.uid.unique())
    pu = {m: per_user_metrics(r, uids, D.test, K).reindex(uids) for m, r in job.results.items()}
    rows_out = []
    for i, (m, r) in enumerate(job.summary.set_index('method').iterrows()):
        nd, rc = pu[m]['NDCG'].to_numpy(float), pu[m]['R'].to_numpy(float)
        row = {'method': m, **{k: float(v) for k, v in r.items()}, 'NDCG_ci': _mean_ci(nd, n_boot, 42), 'R_ci': _mean_ci(rc, n_boot, 43)}
        if m != HYB: row['gain_vs'] = paired_bootstrap(pu[HYB]['NDCG'].to_numpy(float), nd, n_boot=n_boot, seed=42)
        rows_out.append(row)
    res.update(status='ok', users=D.n_users, items=D.n_items, test_users=len(uids), report=D.report, stages=job.stages,
               total_s=round(sum(s['seconds'] for s in job.stages.values()), 1), load=lm.result, methods=rows_out,
               recall_test=job.info.get('recall_test'), baseline_params=job.info.get('baseline_params'),
               ltr={k: v for k, v in job.info.get('ltr', {}).items() if k != 'features'}, devices=job.devices,
               reachable=job.info.get('reachable'), bootstrap=job.bootstrap)
    write_json(RESULTS / f'quality_{name}.json', res)
    print(f"[quality] {name}: done in {res['total_s']:.0f} s; hybrid NDCG@{K} {rows_out[0]['NDCG@10']:.4f}", flush=True)
    return res


def report() -> str:
    rs = [json.loads(p.read_text()) for p in sorted(RESULTS.glob('quality_*.json'))]
    if not rs: raise SystemExit('no results/quality_*.json yet: run python bench/quality.py first')
    L = ['# Quality benchmark (`bench/quality.py`)', '', machine_line(rs[-1]['machine']), '',
         'The whole job (`eval.Job`, JOB_DEFAULTS, `SPLIT="last_out"`, K=10, baselines tuned on the valid fold with the '
         '"small" grids) on each real set. Full ranking over the catalogue, seen items excluded. '
         '[lo, hi] = 95% bootstrap CI of the mean over test users (1000 resamples); '
         '"hybrid gain" = paired-bootstrap mean NDCG@10 gain of the hybrid over that method, with its CI and P(gain ≤ 0).', '']
    L += ['## Transfer: the guard\'s validation gain next to the test gain', '',
          "Reranker ÷ its best single source on the guard's held-out validation users — over all their queries (valid targets and the extra "
          "training cut-offs) and over the final-position (valid-target) queries alone, the kind test and serving ask — next to the test gain "
          "(hybrid ÷ best tuned baseline). A gap between the last two is a guard judging queries unlike the ones it serves.", '',
          '| set | guard queries (final) | reranker ÷ best source, all | … final-position | test: hybrid ÷ best baseline |', '|---|---|---|---|---|']
    for r in rs:
        g, b = (r.get('ltr') or {}).get('guard') or {}, r.get('bootstrap') or {}
        if r['status'] != 'ok' or not g or not b: continue
        ratio = lambda nd: nd['reranker'] / max(max((v for k, v in nd.items() if k.startswith('source:')), default=0), 1e-12) if nd else float('nan')
        best = next(m for m in r['methods'] if m['method'] == b['baseline'])['NDCG@10']
        L.append(f"| {r['set']} | {g['queries']:,} ({g.get('queries_final', float('nan')):,}) | {ratio(g['ndcg']):.3f} | {ratio(g.get('ndcg_final')):.3f} | "
                 f"{r['methods'][0]['NDCG@10'] / max(best, 1e-12):.3f} |")
    L.append('')
    for r in rs:
        if r['status'] != 'ok':
            L += [f"## {r['set']}: skipped", '', f"{r['reason']}", '']; continue
        L += [f"## {r['set']}", '', f"{r['users']:,} users, {r['items']:,} items, {r['test_users']:,} test users; job {r['total_s']:.0f} s "
              f"(others busy {r['load']['other_cores_busy']:.2f} cores); run {r['time']}.", '',
              '| method | NDCG@10 [95% CI] | Recall@10 [95% CI] | MAP@10 | MRR@10 | MPR@10 | Coverage@10 | hybrid NDCG gain [95% CI] | P(gain ≤ 0) |',
              '|---|---|---|---|---|---|---|---|---|']
        for m in r['methods']:
            g = m.get('gain_vs')
            gs = f"{g['mean_gain']:+.4f} [{g['lo']:+.4f}, {g['hi']:+.4f}] | {g['p_le_0']:.3f}" if g else '— | —'
            L.append(f"| {'**' + m['method'] + '**' if m['method'] == HYB else m['method']} | {m['NDCG@10']:.4f} [{m['NDCG_ci'][0]:.4f}, {m['NDCG_ci'][1]:.4f}] | "
                     f"{m['R@10']:.4f} [{m['R_ci'][0]:.4f}, {m['R_ci'][1]:.4f}] | {m['MAP@10']:.4f} | {m['MRR@10']:.4f} | {m['MPR@10']:.4f} | {m['Coverage@10']:.3f} | {gs} |")
        g, b = (r.get('ltr') or {}).get('guard'), r.get('bootstrap')
        if b:
            best = next(m for m in r['methods'] if m['method'] == b['baseline'])
            L += ['', f"Best baseline: {b['baseline']} ({best['NDCG@10']:.4f}); hybrid / best = {r['methods'][0]['NDCG@10'] / max(best['NDCG@10'], 1e-12):.3f}, "
                  f"gain {b['mean_gain']:+.4f} [{b['lo']:+.4f}, {b['hi']:+.4f}]. Reachable test targets (in the fold's catalogue): {(r.get('reachable') or {}).get('test', float('nan')):.3f}."]
        basis = {'final': f"judged on the {g.get('queries_final')} final-position queries", 'all': 'judged on all of them'}.get((g or {}).get('basis'), 'judged on all of them')
        if g: L += ['', f"Reranker guard ({g['queries']} held-out validation queries; {basis}): chose **{g['choice']}**; NDCG@10 " + ', '.join(f"{k} {v:.4f}" for k, v in g['ndcg'].items()) + '.']
        if g and g.get('ndcg_final'): L += ['', f"The same on its {g['queries_final']} final-position (valid-target) queries: " + ', '.join(f"{k} {v:.4f}" for k, v in g['ndcg_final'].items()) + '.']
        un = [x for x in (r.get('recall_test') or []) if x['source'] == 'union']
        if un: L += ['', f"Candidate-pool recall on test (the reranker's ceiling): {un[0]['recall']:.3f} at {un[0]['pool_size']:.0f} candidates per user."]
        L.append('')
    md = '\n'.join(L) + '\n'; (RESULTS / 'quality.md').write_text(md); return md


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--sets', nargs='*', help='folder names under ../shared/data (default: all)')
    ap.add_argument('--params', default='{}', help='JSON dict of extra Job parameters')
    ap.add_argument('--synthetic', nargs='*', default=[], help='synthetic shapes (keys of data.SYNTHETIC_SHAPES) to run as well')
    ap.add_argument('--synthetic-rows', type=int, default=20_000, help='SCALE_N of the synthetic runs')
    ap.add_argument('--n-boot', type=int, default=1000); ap.add_argument('--report', action='store_true')
    a = ap.parse_args()
    os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')      # before any OpenMP library loads; see README (spinning threads)
    if not a.report:
        offline_env(); print(machine_line(machine()), flush=True)
        sets = shared_sets()
        for name in (a.sets if a.sets is not None else list(sets)):
            if name not in sets: raise SystemExit(f'unknown set {name!r}; available: {list(sets)}')
            run_set(name, sets[name], json.loads(a.params), a.n_boot)
        for shape in a.synthetic: run_set(f'synthetic_{shape}', None, json.loads(a.params), a.n_boot, a.synthetic_rows)
    print(report())


if __name__ == '__main__':
    main()
