#!/usr/bin/env python
"""Peer comparison: RecTools' two-stage `CandidateRankingModel` on MovieLens-100K, on exactly our split.

    python bench/peer_rectools.py                        # export + peer fit/predict + score; results/peer_rectools.json
    python bench/peer_rectools.py --tune                 # + a tiny grid on the valid fold; results/peer_rectools_tuned.json
    python bench/peer_rectools.py --export DIR           # main env: write our split to DIR (parquet + meta.json)
    /tmp/rectools_venv/bin/python bench/peer_rectools.py --peer DIR [--tune]   # peer venv: fit, recommend, time
    python bench/peer_rectools.py --score DIR            # main env: our metrics (eval.topk_metrics) on DIR/peer_recs.parquet

RecTools pins numpy<2 while the project uses numpy 2, so the peer runs in its own virtualenv (~1 min to install):
    python -m venv /tmp/rectools_venv && /tmp/rectools_venv/bin/pip install "rectools[catboost]" "pyarrow<26"
(`rectools[catboost]` brings catboost and pm-implicit; `--peer-python` points elsewhere.)

The split is the job's own (`Job.data()`: DATA_SOURCE='local', ../shared/data/movielens100k, SCALE_N=100000, SEED=42,
K_CORE=5, SPLIT='last_out'): the peer fits on the test fold's history (train + valid) and recommends k=10 to every
test user, viewed items filtered, only items of the test catalogue (`RecData.catalogue('test')`); we score its lists
with `eval.topk_metrics`, the function that scores our methods.
The peer model follows RecTools' CandidateRankingModel tutorial: candidate generators Popular, ALS (implicit), EASE
and ItemKNN (implicit cosine), `N_CAND` candidates each with their ranks and scores as the only features (ML-100K
has no user features in our split), `PerUserNegativeSampler(3)`, `CatBoostReranker(CatBoostRanker())` (YetiRank,
1000 iterations). Its reranker learns on one inner fold, which here is exactly our train -> valid fold: a fixed
splitter holds the valid rows out of the history, so the reranker's targets are our valid targets (our job may add
earlier leave-one-out passes, EXTRA_PASSES; RecTools allows one fold).
`--tune` picks ALS factors x candidates per generator on the valid fold (history = train, reranker targets = each
user's last train row, `LastNSplitter(1)`), by NDCG@10, and refits the best on the test fold; its cost is `tune_s`.
Timings: `fit_s` = `CandidateRankingModel.fit` (generators on the inner history, candidates, reranker, generators
refitted on the full history), `predict_s` = `recommend` for all test users; both wall and CPU seconds, plus the
load other processes put on the machine meanwhile (the box is shared, see README).
"""
from __future__ import annotations
import argparse, json, os, subprocess, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, REPO, write_json

DEFAULT_PEER_PYTHON = '/tmp/rectools_venv/bin/python'
INSTALL = 'python -m venv /tmp/rectools_venv && /tmp/rectools_venv/bin/pip install "rectools[catboost]" "pyarrow<26"'
WORK = Path(os.environ.get('BENCH_OUT', '/tmp/bench_out')) / 'peer_rectools'
DATA_PATH = Path(os.environ.get('HR_SHARED_DATA', REPO.parent / 'shared' / 'data')) / 'movielens100k'
JOB_PARAMS = dict(DATA_SOURCE='local', DATA_PATH=str(DATA_PATH), SCALE_N=100_000, SEED=42, K_CORE=5, SPLIT='last_out', UNDATED='random',
                  SYNTHETIC_SHAPE='default')
K = 10
PEER = dict(N_CAND=30, ALS_FACTORS=64, ALS_ITERS=15, EASE_REG=500.0, KNN_K=50, N_NEGATIVES=3, SEED=42)
TUNE_GRID = dict(ALS_FACTORS=[32, 64], N_CAND=[30, 50])
COLS = ['uid', 'iid', 'rating', 'ts']


def _env():
    "The bench scripts' environment: offline, no spinning OpenMP threads, one BLAS thread under implicit (its advice)."
    for k, v in dict(HF_HUB_OFFLINE='1', HF_DATASETS_OFFLINE='1', OMP_WAIT_POLICY='PASSIVE', OPENBLAS_NUM_THREADS='1').items():
        os.environ.setdefault(k, v)
    return {k: os.environ.get(k) for k in ('OMP_WAIT_POLICY', 'OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS')}


# ------------------------------------------------------------------------------------------------ export (main env)
def export(out: Path) -> dict:
    "Build the job's ML-100K split and write train/valid/test (+ hist) parquet, catalogue.parquet and meta.json to `out`."
    import numpy as np, pandas as pd
    from hybrid_recommender.job import Job
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    job = Job(**JOB_PARAMS, OUT_DIR=str(out / 'job')); D = job.data(); job._lock.release()
    for name in ['train', 'valid', 'test']: getattr(D, name)[COLS].to_parquet(out / f'{name}.parquet', index=False)
    hist = D.hist[COLS] if D.hist is not None and len(D.hist) else D.train[COLS].iloc[:0]
    hist.to_parquet(out / 'hist.parquet', index=False)      # history for the test pass only (timestamp split); empty here
    pd.DataFrame({'iid': np.arange(D.n_items, dtype=np.int32), 'valid': D.catalogue('valid'), 'test': D.catalogue('test')}
                 ).to_parquet(out / 'catalogue.parquet', index=False)
    meta = {'n_users': D.n_users, 'n_items': D.n_items, 'rows': {n: len(getattr(D, n)) for n in ['train', 'valid', 'test']} | {'hist': len(hist)},
            'test_users': int(D.test.uid.nunique()), 'catalogue': {'valid': int(D.catalogue('valid').sum()), 'test': int(D.catalogue('test').sum())},
            'reachable_test': D.reachable('test'), 'job_params': JOB_PARAMS, 'data_fp': job.fps['data'], 'report': D.report,
            'export_s': round(time.perf_counter() - t0, 2)}
    (out / 'meta.json').write_text(json.dumps(meta, indent=1, default=str))
    print(f"exported {D} to {out} in {meta['export_s']} s")
    return meta


# ------------------------------------------------------------------------------------------------- peer (peer venv)
def _fixed_splitter(n_history: int):
    "A one-fold RecTools splitter: rows [0, n_history) are history, the rest the reranker's targets (our valid rows)."
    import numpy as np
    from rectools.model_selection import Splitter
    class FixedSplitter(Splitter):
        n_splits = 1
        def _split_without_filter(self, interactions, collect_fold_stats=False):
            n = len(interactions.df)
            yield np.arange(n_history), np.arange(n_history, n), {'i_split': 0}
    return FixedSplitter()


def _model(p: dict, splitter, threads: int):
    from implicit.als import AlternatingLeastSquares
    from implicit.nearest_neighbours import CosineRecommender
    from catboost import CatBoostRanker
    from rectools.models import PopularModel, EASEModel, ImplicitALSWrapperModel, ImplicitItemKNNWrapperModel
    from rectools.models.ranking import CandidateRankingModel, CandidateGenerator, CatBoostReranker, PerUserNegativeSampler
    gen = lambda m: CandidateGenerator(m, num_candidates=p['N_CAND'], keep_ranks=True, keep_scores=True)
    als = AlternatingLeastSquares(factors=p['ALS_FACTORS'], iterations=p['ALS_ITERS'], random_state=p['SEED'], num_threads=threads, use_gpu=False)
    generators = [gen(PopularModel()), gen(ImplicitALSWrapperModel(als)), gen(EASEModel(regularization=p['EASE_REG'], num_threads=threads or None)),
                  gen(ImplicitItemKNNWrapperModel(CosineRecommender(K=p['KNN_K'], num_threads=threads)))]
    ranker = CatBoostRanker(verbose=False, random_seed=p['SEED'], thread_count=threads or -1, allow_writing_files=False)
    return CandidateRankingModel(generators, splitter, CatBoostReranker(ranker), sampler=PerUserNegativeSampler(p['N_NEGATIVES'], p['SEED']))


def _dataset(history):
    import pandas as pd
    from rectools import Columns
    from rectools.dataset import Dataset
    df = pd.DataFrame({Columns.User: history.uid.to_numpy(), Columns.Item: history.iid.to_numpy(), Columns.Weight: 1.0,
                       Columns.Datetime: pd.to_datetime(history.ts.fillna(0).to_numpy(), unit='ms')})
    return Dataset.construct(df)


def _ndcg(recs, targets, k: int = K) -> float:
    "Mean NDCG@k over users with a target (as eval.per_user_metrics: ideal DCG over min(n_targets, k) hits)."
    import numpy as np
    t = targets[['uid', 'iid']].drop_duplicates(); tgt = t.groupby('uid').iid.apply(set)
    r = recs.sort_values(['user_id', 'rank']).groupby('user_id').item_id.apply(list)
    disc = 1 / np.log2(np.arange(2, k + 2)); out = []
    for u, items in tgt.items():
        got = r.get(u, [])[:k]
        dcg = sum(disc[i] for i, x in enumerate(got) if x in items)
        out.append(dcg / disc[:min(len(items), k)].sum())
    return float(np.mean(out))


def fit_recommend(p: dict, history, n_history: int | None, users, allowed, threads: int) -> dict:
    "Fit on `history` (rows [n_history:] are the reranker's targets; None = LastNSplitter(1)) and recommend k=K to `users`."
    from rectools.model_selection import LastNSplitter
    splitter = _fixed_splitter(n_history) if n_history is not None else LastNSplitter(1, 1)
    t0 = time.perf_counter(); ds = _dataset(history); t_ds = time.perf_counter() - t0
    model = _model(p, splitter, threads)
    t0, c0 = time.perf_counter(), time.process_time(); model.fit(ds)
    fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    recs = model.recommend(users, ds, k=K, filter_viewed=True, items_to_recommend=allowed, on_unsupported_targets='warn')
    pred_s, pred_cpu = time.perf_counter() - t0, time.process_time() - c0
    return dict(model=model, ds=ds, recs=recs, dataset_s=t_ds, fit_s=fit_s, fit_cpu_s=fit_cpu, predict_s=pred_s, predict_cpu_s=pred_cpu)


def _diagnostics(model, ds, users, allowed, targets, n_history: int) -> dict:
    "Untimed: the reranker's inner fold (does it equal our valid rows?), its training rows, and the candidate pool's recall."
    import numpy as np
    hist_ds, inner_targets, _ = model.split_to_history_dataset_and_train_targets(ds, model.splitter)
    train = model.get_train_with_targets_for_reranker(ds)   # refits the generators on the inner history; refit for test below
    model._fit_candidate_generators(ds, for_train=False)
    cand = model._get_candidates_from_first_stage(users, ds, filter_viewed=True, for_train=False, items_to_recommend=allowed,
                                                  on_unsupported_targets='warn')
    t = targets[['uid', 'iid']].drop_duplicates()
    hit = t.merge(cand[['user_id', 'item_id']].rename(columns={'user_id': 'uid', 'item_id': 'iid'}), on=['uid', 'iid'], how='inner')
    return {'inner_fold_targets': len(inner_targets), 'inner_fold_history_rows': len(hist_ds.interactions.df), 'history_rows': n_history,
            'reranker_train_rows': len(train), 'reranker_train_positives': int(train['target'].sum()),
            'reranker_features': [c for c in train.columns if c not in ('user_id', 'item_id', 'target')],
            'test_candidates': len(cand), 'mean_pool': round(len(cand) / max(len(users), 1), 1),
            'pool_recall_test': round(len(hit) / max(len(t), 1), 4)}


def peer(d: Path, tune: bool, threads: int) -> dict:
    "Fit CandidateRankingModel on the test fold (after an optional valid-fold grid), recommend, write peer_recs.parquet + peer.json."
    env = _env()
    import itertools, platform, warnings
    import numpy as np, pandas as pd
    from importlib.metadata import version
    warnings.filterwarnings('ignore', category=FutureWarning)
    tr, va, te, hi = (pd.read_parquet(d / f'{n}.parquet') for n in ['train', 'valid', 'test', 'hist'])
    cat = pd.read_parquet(d / 'catalogue.parquet')
    p, res = dict(PEER), {'tune': None}
    if tune:
        t0, rows = time.perf_counter(), []
        hist_v = tr.sort_values(['uid', 'ts'], kind='stable')          # LastNSplitter(1): each user's last train row
        users_v, allowed_v = np.unique(va.uid.to_numpy()), cat.iid[cat.valid].to_numpy()
        for vals in itertools.product(*TUNE_GRID.values()):
            q = {**p, **dict(zip(TUNE_GRID, vals))}
            r = fit_recommend(q, hist_v, None, users_v, allowed_v, threads)
            rows.append({**dict(zip(TUNE_GRID, vals)), 'NDCG@10_valid': round(_ndcg(r['recs'], va), 5), 'fit_s': round(r['fit_s'], 2)})
            print(f"  tune {rows[-1]}", flush=True)
        best = max(rows, key=lambda x: x['NDCG@10_valid'])              # first best wins ties
        p.update({k: best[k] for k in TUNE_GRID})
        res['tune'] = {'grid': TUNE_GRID, 'table': rows, 'best': {k: best[k] for k in TUNE_GRID}}
        res['tune_s'] = round(time.perf_counter() - t0, 2)
    history = pd.concat([tr, hi, va], ignore_index=True)                 # history rows first, then the inner fold's targets
    n_hist = len(tr) + len(hi)
    users, allowed = np.unique(te.uid.to_numpy()), cat.iid[cat.test].to_numpy()
    r = fit_recommend(p, history, n_hist, users, allowed, threads)
    recs = r['recs'].rename(columns={'user_id': 'uid', 'item_id': 'iid'})[['uid', 'iid', 'rank']]
    recs.to_parquet(d / 'peer_recs.parquet', index=False)
    diag = _diagnostics(r['model'], r['ds'], users, allowed, te, n_hist)
    diag['inner_fold_equals_valid'] = diag['inner_fold_targets'] == len(va)
    libs = {}
    for k in ['rectools', 'catboost', 'pm-implicit', 'implicit', 'numpy', 'pandas', 'scipy', 'pyarrow']:
        try: libs[k] = version(k)
        except Exception: pass
    res.update({'model': 'rectools CandidateRankingModel', 'generators': ['PopularModel', 'ImplicitALSWrapperModel(AlternatingLeastSquares)',
                'EASEModel', 'ImplicitItemKNNWrapperModel(CosineRecommender)'], 'reranker': 'CatBoostReranker(CatBoostRanker: YetiRank, 1000 it)',
                'params': p, 'threads': threads or 'library default (all cores)', 'env': env, 'python': platform.python_version(), 'libs': libs,
                'rows_history': len(history), 'test_users': len(users), 'catalogue_test': len(allowed), 'users_with_recs': int(recs.uid.nunique()),
                'dataset_s': round(r['dataset_s'], 3), 'fit_s': round(r['fit_s'], 3), 'fit_cpu_s': round(r['fit_cpu_s'], 3),
                'predict_s': round(r['predict_s'], 3), 'predict_cpu_s': round(r['predict_cpu_s'], 3), 'ndcg10_selfcheck': round(_ndcg(r['recs'], te), 5),
                'diagnostics': diag})
    (d / 'peer.json').write_text(json.dumps(res, indent=1, default=str))
    print(f"peer fit {res['fit_s']:.2f} s, predict {res['predict_s']:.2f} s, NDCG@10 (self-check) {res['ndcg10_selfcheck']:.4f}"
          + (f", tune {res['tune_s']:.1f} s -> {res['tune']['best']}" if tune else ''))
    return res


# ------------------------------------------------------------------------------------------------- score (main env)
def score(d: Path) -> dict:
    "Our metrics (eval.topk_metrics) on the peer's lists; also checks they respect the catalogue and filter viewed items."
    import numpy as np, pandas as pd
    from hybrid_recommender.eval import topk_metrics
    meta = json.loads((d / 'meta.json').read_text())
    te, recs = pd.read_parquet(d / 'test.parquet'), pd.read_parquet(d / 'peer_recs.parquet')
    hist = pd.concat([pd.read_parquet(d / f'{n}.parquet') for n in ['train', 'hist', 'valid']], ignore_index=True)
    allowed = pd.read_parquet(d / 'catalogue.parquet').test.to_numpy(bool)
    uids = np.unique(te.uid.to_numpy(np.int64))
    R = np.full((len(uids), K), -1, np.int64)
    recs = recs.sort_values(['uid', 'rank']); recs = recs[recs['rank'] <= K]
    row, col = np.searchsorted(uids, recs.uid.to_numpy()), recs['rank'].to_numpy() - 1
    ok = (row < len(uids)) & (uids[row.clip(0, len(uids) - 1)] == recs.uid.to_numpy())
    R[row[ok], col[ok]] = recs.iid.to_numpy()[ok]
    m = topk_metrics(R, uids, te, K, meta['n_items'])
    seen = set(zip(hist.uid.to_numpy().tolist(), hist.iid.to_numpy().tolist()))
    checks = {'rows_not_test_users': int((~ok).sum()), 'padded_slots': int((R < 0).sum()),
              'outside_catalogue': int((~allowed[R[R >= 0]]).sum()),
              'viewed_recommended': sum((int(u), int(i)) in seen for u, i in zip(recs.uid, recs.iid))}
    out = {'metrics': m, 'checks': checks}
    write_json(d / 'peer_metrics.json', out)
    print('peer metrics: ' + ', '.join(f'{k} {v:.4f}' if isinstance(v, float) else f'{k} {v}' for k, v in m.items()))
    print(f'checks: {checks}')
    return out


# ---------------------------------------------------------------------------------------------------------- driver
def _check_peer_python(py: str):
    msg = f"peer virtualenv missing or broken ({py}); install it with:\n    {INSTALL}\nor pass --peer-python PATH"
    if not Path(py).exists(): sys.exit(msg)
    r = subprocess.run([py, '-c', 'import rectools.models.ranking, catboost, implicit, pyarrow'], capture_output=True, text=True)
    if r.returncode != 0: sys.exit(msg + f"\n({r.stderr.strip().splitlines()[-1] if r.stderr.strip() else 'import failed'})")


def run_all(d: Path, py: str, tune: bool, threads: int) -> dict:
    from _common import offline_env, machine, machine_line, LoadMeter, code_version
    _check_peer_python(py); offline_env(); env = _env()
    m = machine(); print(machine_line(m))
    meta = export(d)
    cmd = [py, str(Path(__file__).resolve()), '--peer', str(d), '--threads', str(threads)] + (['--tune'] if tune else [])
    print('$ ' + ' '.join(cmd), flush=True)
    with LoadMeter() as lm:
        r = subprocess.run(cmd, env=dict(os.environ))
    if r.returncode != 0: sys.exit(f'peer run failed (exit {r.returncode}): {" ".join(cmd)}')
    pj = json.loads((d / 'peer.json').read_text())
    sc = score(d)
    res = {'kind': 'peer_rectools', 'time': time.strftime('%Y-%m-%d %H:%M:%S'), 'machine': m, 'code': code_version(), 'env': env,
           'split': {k: meta[k] for k in ['n_users', 'n_items', 'rows', 'test_users', 'catalogue', 'reachable_test', 'job_params', 'data_fp']},
           'peer': pj, 'metrics': sc['metrics'], 'checks': sc['checks'], 'load_peer_run': lm.result,
           'summary': {'NDCG@10': sc['metrics']['NDCG'], 'fit_s': pj['fit_s'], 'predict_s': pj['predict_s'], 'tune_s': pj.get('tune_s')}}
    path = write_json(RESULTS / ('peer_rectools_tuned.json' if tune else 'peer_rectools.json'), res)
    print(f"peer: NDCG@10 {sc['metrics']['NDCG']:.4f}, fit {pj['fit_s']:.1f} s, predict {pj['predict_s']:.1f} s"
          + (f", tune {pj['tune_s']:.1f} s" if tune else '') + f"  ({path.relative_to(REPO)})")
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    g = ap.add_mutually_exclusive_group()
    g.add_argument('--export', metavar='DIR', help='main env: write our ML-100K split to DIR')
    g.add_argument('--peer', metavar='DIR', help='peer venv: fit + recommend on DIR, write peer_recs.parquet, peer.json')
    g.add_argument('--score', metavar='DIR', help='main env: score DIR/peer_recs.parquet with eval.topk_metrics')
    ap.add_argument('--dir', default=str(WORK), help=f'working folder of the default run (default {WORK})')
    ap.add_argument('--peer-python', default=DEFAULT_PEER_PYTHON, help=f'python of the peer venv (default {DEFAULT_PEER_PYTHON})')
    ap.add_argument('--tune', action='store_true', help=f'tiny grid {TUNE_GRID} on the valid fold first (tune_s)')
    ap.add_argument('--threads', type=int, default=0, help='threads for implicit/EASE/CatBoost (0 = library default: all cores)')
    a = ap.parse_args()
    if a.export: export(Path(a.export))
    elif a.peer: peer(Path(a.peer), a.tune, a.threads)
    elif a.score: score(Path(a.score))
    else: run_all(Path(a.dir), a.peer_python, a.tune, a.threads)


if __name__ == '__main__':
    main()
