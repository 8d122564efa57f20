#!/usr/bin/env python
"""Scale benchmark: the whole job (`eval.Job`, the notebook's code path) on synthetic data at several SCALE_N, cold and warm.

    python bench/scale.py                                  # SCALE_N 20k 100k 200k, cold then warm, then the report
    python bench/scale.py --scales 500000 --modes cold     # one size
    python bench/scale.py --scales 200000 --modes cold --profile   # + py-spy --native profile and glue share
    python bench/scale.py --report                         # rebuild results/scale.md and scale.png from the JSONs
    python bench/scale.py --scales 200000 --modes cold --cluster local   # CLUSTER: Dask LocalCluster, workers' peak RSS too

Each run is a fresh Python process (clean peak RSS), writes `results/scale_<N>_<mode>.json` (per stage: wall s, CPU s,
peak RSS, rows/users/items/candidates processed; machine; load from other processes), and `--report` writes
`results/scale.md` (table, targets, fitted exponents) and `results/scale.png` (log-log time vs SCALE_N per stage).
cold = empty OUT_DIR (embedding cache included); warm = the same OUT_DIR again, every artifact present.
"""
from __future__ import annotations
import argparse, json, os, shutil, subprocess, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, REPO, offline_env, machine, machine_line, LoadMeter, write_json, fit_exponent, code_version, _vmhwm_gb

STAGES = ['data', 'embeddings', 'tuning', 'mf', 'candidates', 'ltr', 'evaluate']
OUT_ROOT = Path(os.environ.get('BENCH_OUT', '/tmp/bench_out')) / 'scale'
# Job parameters for the synthetic data; everything else is JOB_DEFAULTS (what the notebook runs).
PARAMS = dict(DATA_SOURCE='synthetic', USE_GPU='auto', SEED=42)
TARGETS = {200_000: {'cold_s': 600, 'warm_s': 180, 'rss_gb': 6.0}, 500_000: {'cold_s': 1500, 'rss_gb': 6.0}}   # 500k RSS: issue #15 (10 GB originally)


def _counts(job) -> dict:
    "What each stage processed: rows, users, items, candidates."
    D = job.D; rep = D.report; hist, _ = D.fold('test')
    ts = job.info.get('train_sampling', {}) or {}
    if job.test_cand is not None: n_test_cand = len(job.test_cand)
    else:                                                   # on a cluster the test pool is a folder of parquet parts: count rows from their footers
        import pyarrow.parquet as pq
        n_test_cand = sum(pq.read_metadata(f).num_rows for f in job.store.path('test_candidates_{N}.parquet').glob('part-*.parquet'))
    n_test_users = int(D.test.uid.nunique())
    pool = n_test_cand / max(n_test_users, 1)
    # candidate rows generated in all passes ~= (users of every training pass + test users) x mean pool size
    gen_rows = (ts.get('users_total', 0) + n_test_users) * pool
    return {
        'data': {'rows_in': rep.get('rows_in'), 'rows_clean': rep.get('rows_clean'), 'rows_after_kcore': rep.get('rows_after_kcore'),
                 'users': D.n_users, 'items': D.n_items, 'work': rep.get('rows_in')},
        'embeddings': {'items': D.n_items, 'items_with_text': int(D.items.has_text.sum()), 'dim': int(job.emb.shape[1]), 'work': int(D.items.has_text.sum())},
        'tuning': {'models': len(getattr(job, 'tuned', {})), 'valid_users': int(D.valid.uid.nunique()), 'work': int(D.valid.uid.nunique())},
        'mf': {'rows': len(hist), 'users': D.n_users, 'items': D.n_items, 'factors': job.P['ALS_FACTORS'], 'work': len(hist)},
        'candidates': {'passes': ts.get('passes'), 'train_pass_users': ts.get('users_total'), 'test_users': n_test_users,
                       'test_candidates': n_test_cand, 'mean_pool': round(pool, 1), 'candidates_generated_est': int(gen_rows),
                       'train_rows': len(job.train_set), 'work': int(gen_rows)},
        'ltr': {'train_rows': len(job.train_set), 'queries': int(job.train_set['qid'].nunique()) if 'qid' in job.train_set else None,
                'features': len(job.info.get('ltr', {}).get('features', []) or []), 'work': len(job.train_set)},
        'evaluate': {'test_candidates': n_test_cand, 'eval_users': n_test_users, 'methods': len(getattr(job, 'results', {})),
                     'work': n_test_cand},
    }


def _watchdog(limit_gb: float, n: int, mode: str, job_ref: list, bd_ref: list, time_limit_s: float | None = None, suffix: str = ''):
    "Protect the shared machine: past `limit_gb` RSS, write what was measured so far and exit (code 3); past `time_limit_s`, the same as a partial result (code 4)."
    import psutil, threading
    p = psutil.Process(); t0 = time.perf_counter()
    def watch():
        while True:
            time.sleep(0.25)
            if time_limit_s is not None and time.perf_counter() - t0 > time_limit_s: _partial(n, mode, job_ref, bd_ref, time_limit_s, suffix)
            rss = p.memory_info().rss / 2**30
            if rss > limit_gb:
                job = job_ref[0] if job_ref else None
                res = {'kind': 'scale', 'scale_n': n, 'mode': mode, 'time': time.strftime('%Y-%m-%d %H:%M:%S'), 'status': 'aborted',
                       'reason': f'RSS {rss:.1f} GB > --max-rss-gb {limit_gb:g}', 'stages_done': dict(job.stages) if job else {},
                       'breakdown': bd_ref[0].result() if bd_ref else None, 'load_uptime': os.getloadavg()}
                write_json(RESULTS / f'scale_{n}_{mode}_aborted.json', res)
                print(f"[scale] ABORT SCALE_N={n:,} {mode}: {res['reason']} (stages done: {list(res['stages_done'])})", flush=True)
                os._exit(3)
    threading.Thread(target=watch, daemon=True).start()


def _partial(n: int, mode: str, job_ref: list, bd_ref: list, limit_s: float, suffix: str):
    "Write the stages finished within the time limit (and, on a cluster, each worker's peak RSS so far), then exit (code 4)."
    job = job_ref[0] if job_ref else None
    res = {'kind': 'scale', 'scale_n': n, 'mode': mode, 'time': time.strftime('%Y-%m-%d %H:%M:%S'), 'status': 'partial',
           'reason': f'--time-limit-s {limit_s:g} reached', 'stages_done': dict(job.stages) if job else {},
           'stage_running': next((s for s in STAGES if job and s not in job.stages), None),
           'breakdown': bd_ref[0].result() if bd_ref else None, 'machine': machine(), 'load_uptime': os.getloadavg(),
           'data_report': getattr(getattr(job, 'D', None), 'report', None) if job else None}
    try:
        if job is not None and getattr(job, 'client', None) is not None: res['workers_peak_rss_gb'] = {k: round(v, 3) for k, v in job.client.run(_vmhwm_gb).items()}
    except Exception as e: res['workers_peak_rss_gb'] = f'not read: {e}'
    p = write_json(RESULTS / f'scale_{n}_{mode}{suffix}_partial.json', res)
    print(f"[scale] TIME LIMIT SCALE_N={n:,} {mode}: stages done {list(res['stages_done'])}, running {res['stage_running']} -> {p.name}", flush=True)
    os._exit(4)


def run_one(n: int, mode: str, extra: dict, breakdown: bool = False, max_rss_gb: float = 14.0, cluster: str | None = None,
            time_limit_s: float | None = None) -> dict:
    "Run the job once in this process (its Dask workers too, with --cluster) and write its result JSON."
    offline_env()
    import resource, psutil
    from hybrid_recommender.job import Job
    out = OUT_ROOT / str(n)
    if mode == 'cold' and out.exists(): shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    params = {**PARAMS, 'SCALE_N': n, 'OUT_DIR': str(out), **extra}
    client = None
    if cluster:                                   # our own Client, so that the workers' peak memory can be read before it closes
        from hybrid_recommender.data import cluster_client
        client = cluster_client(cluster); params['CLUSTER'] = client
    fpdir = out / '.fingerprints'
    marks = lambda: {p.name: p.stat().st_mtime for p in fpdir.glob('*.json')} if fpdir.exists() else {}
    before = marks()
    import hybrid_recommender
    m = machine(); code = code_version(Path(hybrid_recommender.__file__).parent); print(machine_line(m), '| code', code, flush=True)
    print(f"[scale] SCALE_N={n:,} {mode} OUT_DIR={out} params={ {k: v for k, v in params.items() if k != 'OUT_DIR'} }", flush=True)
    load, job_ref, bd_ref = {}, [], []
    if breakdown:
        from breakdown import Breakdown
        bd = Breakdown().install(); bd_ref.append(bd)
    _watchdog(max_rss_gb, n, mode, job_ref, bd_ref, time_limit_s, '' if not cluster else f'_cluster_{_spec(cluster)}')
    with LoadMeter() as lm:
        job = Job(**params); job_ref.append(job); t0 = time.perf_counter()
        for s in STAGES:
            with LoadMeter() as sl: getattr(job, s)()
            load[s] = sl.result['other_cores_busy']
            st = job.stages[s]
            print(f"[scale]   {s:<11} {st['seconds']:8.1f} s wall {st['cpu_seconds']:8.1f} s cpu  peak RSS {st['peak_rss_gb']:.2f} GB"
                  f"  (others busy {load[s]:.2f} cores)", flush=True)
        job.manifest(); total = time.perf_counter() - t0
    counts = _counts(job)
    recomputed = sorted(k[:-5] for k, t in marks().items() if before.get(k) != t)   # artifacts (re)written by this run
    if mode == 'warm' and recomputed:
        print(f"[scale] WARNING: this warm run recomputed {recomputed} (parameters or CODE_VERSION changed since the cold run)", flush=True)
    stages = {s: {**job.stages[s], 'other_cores_busy': load[s], 'counts': counts[s]} for s in STAGES}
    res = {'kind': 'scale', 'scale_n': n, 'mode': mode, 'time': time.strftime('%Y-%m-%d %H:%M:%S'), 'total_s': round(total, 2),
           'total_cpu_s': round(sum(v['cpu_seconds'] for v in stages.values()), 2),
           'peak_rss_gb': round(max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, max(v['peak_rss_gb'] for v in stages.values())), 3),
           'stages': stages, 'load': lm.result, 'machine': m, 'params': {k: v for k, v in job.P.items()},
           'devices': job.devices, 'data_report': job.D.report, 'code': code, 'recomputed_artifacts': recomputed,
           'code_version': getattr(__import__('hybrid_recommender.eval', fromlist=['x']), 'CODE_VERSION', None),
           'env': {k: os.environ.get(k) for k in ('OMP_WAIT_POLICY', 'OMP_NUM_THREADS', 'GOMP_SPINCOUNT', 'TOKENIZERS_PARALLELISM')},
           'metrics': job.summary.to_dict('records') if hasattr(job, 'summary') else None,
           'recall_test': job.info.get('recall_test'), 'n_per_source': job.info.get('n_per_source'),
           'ltr_info': {k: v for k, v in job.info.get('ltr', {}).items() if k != 'features'},
           'breakdown': bd.result() if breakdown else None, 'parts': getattr(job, 'parts', None)}
    if client is not None:
        import resource as _r
        peak = client.run(_vmhwm_gb)           # each worker process's peak RSS, GB (VmHWM: ru_maxrss would include the client's RSS when it spawned the worker)
        res['cluster'] = {'spec': cluster, 'workers': len(peak), 'workers_peak_rss_gb': {k: round(v, 3) for k, v in peak.items()},
                          'client_peak_rss_gb': res['peak_rss_gb'], 'distributed': job.cluster_info().get('stages') if job.cluster_info() else None}
        res['params']['CLUSTER'] = cluster; client.close()
        print(f"[scale] workers' peak RSS (GB): {res['cluster']['workers_peak_rss_gb']}", flush=True)
    p = write_json(RESULTS / (f'scale_{n}_{mode}.json' if client is None else f'scale_{n}_{mode}_cluster_{_spec(cluster)}.json'), res)
    print(f"[scale] SCALE_N={n:,} {mode}: total {total:.1f} s, peak RSS {res['peak_rss_gb']:.2f} GB, others busy "
          f"{lm.result['other_cores_busy']:.2f} cores ({lm.result['uptime']}) -> {p.relative_to(REPO)}", flush=True)
    return res


def snapshot_package() -> Path:
    "Copy the package as it is now to BENCH_OUT/pkg/<sha>: every run of one invocation (cold, then warm) uses the same code."
    sha = code_version()['package_sha1']; dst = OUT_ROOT.parent / 'pkg' / sha
    if not (dst / 'hybrid_recommender').exists():
        tmp = dst.with_name(sha + '.tmp'); shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(REPO / 'hybrid_recommender', tmp / 'hybrid_recommender', ignore=shutil.ignore_patterns('__pycache__'))
        tmp.rename(dst)
    return dst


def _spec(cluster: str) -> str: return cluster.replace("://", "_").replace(":", "_").replace("/", "_")


def _child(n: int, mode: str, extra: dict, profile: bool, breakdown: bool, omp_active: bool = False, max_rss_gb: float = 14.0,
           pkg: Path | None = None, cluster: str | None = None, time_limit_s: float | None = None) -> int:
    "Run one (N, mode) in a fresh interpreter, optionally under py-spy."
    cmd = ([sys.executable, __file__, '--one', str(n), mode, '--params', json.dumps(extra), '--max-rss-gb', str(max_rss_gb)]
           + (['--breakdown'] if breakdown else []) + (['--cluster', cluster] if cluster else [])
           + (['--time-limit-s', str(time_limit_s)] if time_limit_s else []))
    if profile:
        prof = OUT_ROOT.parent / 'profiles' / f'pyspy_{n}_{mode}.txt'; prof.parent.mkdir(parents=True, exist_ok=True)
        cmd = ['py-spy', 'record', '--native', '--rate', '25', '--format', 'raw', '--output', str(prof), '--'] + cmd
        print(f"[scale] profiling with py-spy -> {prof} (analyse: python bench/glue.py {prof})", flush=True)
    env = dict(os.environ)
    if not omp_active: env.setdefault('OMP_WAIT_POLICY', 'PASSIVE')      # see README: spinning OpenMP threads on a shared box
    if pkg: env['PYTHONPATH'] = os.pathsep.join([str(pkg)] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    if pkg: env.setdefault('HR_SHARED_DATA', str(REPO.parent / 'shared' / 'data'))
    return subprocess.run(cmd, env=env).returncode


# ----------------------------------------------------------------------------------------------------------- report
def load_results() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(RESULTS.glob('scale_*_*.json')) if p.stem.count('_') == 2]


def _fmt_s(x): return '—' if x is None else (f'{x:,.0f}' if x >= 100 else f'{x:,.1f}')


def _stages(rs: list[dict]) -> list[str]:
    "The stages every result has: runs from before a stage existed (tuning) are reported on the stages they share with the rest."
    return [s for s in STAGES if all(s in r['stages'] for r in rs)]


def report() -> str:
    "results/scale.md and results/scale.png from every results/scale_<N>_<mode>.json."
    import numpy as np
    rs = sorted(load_results(), key=lambda r: (r['mode'], r['scale_n']))
    if not rs: raise SystemExit('no results/scale_*.json yet: run python bench/scale.py first')
    STAGES = _stages(rs)
    m = rs[-1]['machine']; L = [f'# Scale benchmark (`bench/scale.py`)', '', f'{machine_line(m)}', '',
        'Whole job (`eval.Job(...).run()`, JOB_DEFAULTS + `DATA_SOURCE="synthetic"`), one fresh process per run. '
        '*cold* = empty OUT_DIR, *warm* = rerun on the same OUT_DIR (every artifact cached). Seconds are wall time; '
        '"others" is the mean number of cores busy in *other* processes during the run (the machine is shared: '
        'timings with others > 0.3 are inflated).', '']
    for mode in ('cold', 'warm'):
        g = [r for r in rs if r['mode'] == mode]
        if not g: continue
        L += [f'## {mode}', '', '| SCALE_N | users | items | ' + ' | '.join(STAGES) + ' | **total s** | CPU s | peak RSS GB | others | when | code |',
              '|' + '---|' * (len(STAGES) + 10)]
        for r in g:
            c = r['stages']['data']['counts']
            L.append(f"| {r['scale_n']:,} | {c['users']:,} | {c['items']:,} | " + ' | '.join(_fmt_s(r['stages'][s]['seconds']) for s in STAGES) +
                     f" | **{_fmt_s(r['total_s'])}** | {_fmt_s(r['total_cpu_s'])} | {r['peak_rss_gb']:.2f} | {r['load']['other_cores_busy']:.2f} | {r['time']} | "
                     f"{(r.get('code') or {}).get('package_sha1', '?')}{' (recomputed ' + ', '.join(r['recomputed_artifacts']) + ')' if mode == 'warm' and r.get('recomputed_artifacts') else ''} |")
        L += ['', f'Peak RSS (GB) per stage ({mode}):', '', '| SCALE_N | ' + ' | '.join(STAGES) + ' |', '|' + '---|' * (len(STAGES) + 1)]
        for r in g: L.append(f"| {r['scale_n']:,} | " + ' | '.join(f"{r['stages'][s]['peak_rss_gb']:.2f}" for s in STAGES) + ' |')
        L += ['', f'CPU seconds per stage ({mode}; CPU/wall > 1 means both cores were used):', '', '| SCALE_N | ' + ' | '.join(STAGES) + ' |', '|' + '---|' * (len(STAGES) + 1)]
        for r in g: L.append(f"| {r['scale_n']:,} | " + ' | '.join(f"{_fmt_s(r['stages'][s]['cpu_seconds'])} ({r['stages'][s]['cpu_seconds'] / max(r['stages'][s]['seconds'], 1e-9):.1f}x)" for s in STAGES) + ' |')
        L.append('')
    cold = [r for r in rs if r['mode'] == 'cold']
    if cold:
        L += ['## What each stage processed (cold)', '', '| SCALE_N | data rows in | kcore rows | emb items | mf rows | cand passes | candidates generated (est.) | test candidates | LTR rows |', '|' + '---|' * 9]
        for r in cold:
            s = {k: r['stages'][k]['counts'] for k in STAGES}
            L.append(f"| {r['scale_n']:,} | {s['data']['rows_in']:,} | {s['data']['rows_after_kcore']:,} | {s['embeddings']['items_with_text']:,} | {s['mf']['rows']:,} | "
                     f"{s['candidates']['passes']} | {s['candidates']['candidates_generated_est']:,} | {s['candidates']['test_candidates']:,} | {s['ltr']['train_rows']:,} |")
        L += ['', '## Scaling exponents (cold)', '',
              'Least-squares slope of log(time) against log(SCALE_N) and against log(the rows the stage itself processed: "work" '
              '= raw rows / items embedded / ALS rows / candidate rows generated / LTR rows / test candidates), on wall and on CPU '
              'seconds (CPU s are less distorted by other load). "idle" uses only runs with others < 0.3 cores. Target (#15): ≤ 1.1 in '
              'the rows processed. Fixed costs (model load) push small-scale slopes below 1; LTR rows are capped '
              '(MIN_QUERIES / MAX_TRAIN_ROWS), so its slope vs SCALE_N is not a scaling law.', '',
              '| stage | wall vs SCALE_N | wall vs work | CPU vs SCALE_N | CPU vs work | idle: CPU vs work | scales (idle) |', '|---|---|---|---|---|---|---|']
        idle = [r for r in cold if r['load']['other_cores_busy'] < 0.3]
        ns = [r['scale_n'] for r in cold]; idle_ns = ', '.join(f"{r['scale_n']:,}" for r in idle)
        def ys(g, s, key): return [(r['total_s'] if key == 'seconds' else r['total_cpu_s']) if s == 'total' else r['stages'][s][key] for r in g]
        def ws(g, s): return [r['scale_n'] for r in g] if s == 'total' else [r['stages'][s]['counts']['work'] for r in g]
        for s in STAGES + ['total']:
            L.append(f"| {s} | {fit_exponent(ns, ys(cold, s, 'seconds')):.2f} | {fit_exponent(ws(cold, s), ys(cold, s, 'seconds')):.2f} | "
                     f"{fit_exponent(ns, ys(cold, s, 'cpu_seconds')):.2f} | {fit_exponent(ws(cold, s), ys(cold, s, 'cpu_seconds')):.2f} | "
                     f"{fit_exponent(ws(idle, s), ys(idle, s, 'cpu_seconds')):.2f} | {idle_ns} |")
        L.append('')
        L += _parts_table(cold)
    L += ['## Targets', '', '| target | measured | met? |', '|---|---|---|']
    by = {(r['scale_n'], r['mode']): r for r in rs}
    def row(name, val, lim, unit):
        L.append(f"| {name} ≤ {lim:g} {unit} | " + ('not run | —' if val is None else f"{val:,.1f} {unit} | {'yes' if val <= lim else f'**no** (+{100 * (val / lim - 1):.0f}%)'}") + ' |')
    for n, t in TARGETS.items():
        c, w = by.get((n, 'cold')), by.get((n, 'warm'))
        row(f'{n:,} cold end to end', c and c['total_s'] / 60, t['cold_s'] / 60, 'min')
        if 'warm_s' in t: row(f'{n:,} warm end to end', w and w['total_s'] / 60, t['warm_s'] / 60, 'min')
        row(f'{n:,} peak RSS', c and max(c['peak_rss_gb'], w['peak_rss_gb'] if w else 0), t['rss_gb'], 'GB')
    md = '\n'.join(L) + '\n'
    (RESULTS / 'scale.md').write_text(md)
    _plot(cold, [r for r in rs if r['mode'] == 'warm'])
    return md


def _parts_table(cold) -> list[str]:
    "The evaluate stage by part (cold runs that recorded `Job.parts`): seconds, and the slope against the work of each part."
    g = [r for r in cold if r.get('parts')]
    if len(g) < 2: return []
    names = [k for k in g[-1]['parts'] if all(k in r['parts'] for r in g)]
    def cells(r): c = r['stages']['evaluate']['counts']; return c['eval_users'] * r['stages']['data']['counts']['items']
    def trees(r): return (r.get('ltr_info') or {}).get('best_iteration') or 1
    work = {n: ([r['stages']['evaluate']['counts']['test_candidates'] * trees(r) for r in g], 'test-pool rows x trees') if n.endswith('rerank') else
               ([cells(r) for r in g], 'test users x items ranked') for n in names}
    L = ['## Evaluate by part (cold)', '',
         'Wall seconds of each part of the evaluate stage (`Job.parts`), and the least-squares slope of its wall time against '
         'SCALE_N and against its own work: the reranked test-pool rows times the reranker’s trees (early stopping on validation picks them: a larger sample affords more), or for a baseline the test users x catalogue items it ranks in '
         'full (the protocol of DESIGN.md: every baseline ranks the whole catalogue). EASE also fits an items x items inverse, '
         'O(min(items, EASE_MAX_ITEMS)^3).', '',
         '| part | ' + ' | '.join(f"{r['scale_n']:,}" for r in g) + ' | vs SCALE_N | vs its work | work |', '|' + '---|' * (len(g) + 4)]
    ns = [r['scale_n'] for r in g]
    L.insert(-2, 'Reranker trees: ' + ', '.join(f"{r['scale_n']:,}: {trees(r)}" for r in g) + '.'); L.insert(-2, '')
    for n in names:
        ys = [r['parts'][n]['seconds'] for r in g]
        L.append(f"| {n} | " + ' | '.join(_fmt_s(y) for y in ys) + f" | {fit_exponent(ns, ys):.2f} | {fit_exponent(work[n][0], ys):.2f} | {work[n][1]} |")
    return L + ['']


def _plot(cold, warm):
    import numpy as np
    from matplotlib.figure import Figure
    fig = Figure(figsize=(11, 4.5)); axs = fig.subplots(1, 2); STAGES = _stages(cold + warm)
    for ax, g, title in ((axs[0], cold, 'cold'), (axs[1], warm, 'warm')):
        if not g: ax.set_visible(False); continue
        ns = np.array([r['scale_n'] for r in g])
        for s in STAGES + ['total']:
            y = np.array([r['total_s'] if s == 'total' else r['stages'][s]['seconds'] for r in g])
            ax.plot(ns, y, marker='o', lw=2.5 if s == 'total' else 1.2, label=f'{s} (slope {fit_exponent(ns, y):.2f})')
        ax.set_xscale('log'); ax.set_yscale('log'); ax.set_xlabel('SCALE_N (review rows)'); ax.set_ylabel('wall seconds')
        ax.set_title(f'{title}: time vs SCALE_N'); ax.legend(fontsize=7); ax.grid(True, which='both', alpha=.3)
    fig.tight_layout(); fig.savefig(RESULTS / 'scale.png', dpi=110)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--scales', type=int, nargs='+', default=[20_000, 100_000, 200_000])
    ap.add_argument('--modes', nargs='+', default=['cold', 'warm'], choices=['cold', 'warm'])
    ap.add_argument('--params', default='{}', help='JSON dict of extra Job parameters, e.g. \'{"EMB_BACKEND": "tfidf"}\'')
    ap.add_argument('--profile', action='store_true', help='run under py-spy record --native (then: python bench/glue.py <file>)')
    ap.add_argument('--breakdown', action='store_true', help='also time the main package functions (bench/breakdown.py)')
    ap.add_argument('--max-rss-gb', type=float, default=14.0, help='abort a run (exit 3, partial JSON) past this RSS: the box is shared')
    ap.add_argument('--live-code', action='store_true', help='import the working tree as it changes (default: a snapshot taken at start)')
    ap.add_argument('--omp-active', action='store_true', help="don't set OMP_WAIT_POLICY=PASSIVE for the runs (libgomp's spinning default)")
    ap.add_argument('--cluster', help='CLUSTER for the job: "local" (a Dask LocalCluster, one worker per core) or a scheduler address; '
                                      'writes results/scale_<N>_<mode>_cluster_<spec>.json with each worker\'s peak RSS')
    ap.add_argument('--time-limit-s', type=float, help='stop a run after this many seconds and write the stages it finished '
                                                       '(results/scale_<N>_<mode>[_cluster_<spec>]_partial.json, exit 4): for sizes that outlast the session')
    ap.add_argument('--report', action='store_true', help='only rebuild results/scale.md and scale.png')
    ap.add_argument('--one', nargs=2, metavar=('N', 'MODE'), help=argparse.SUPPRESS)
    a = ap.parse_args(); extra = json.loads(a.params)
    if a.one: run_one(int(a.one[0]), a.one[1], extra, a.breakdown, a.max_rss_gb, a.cluster, a.time_limit_s); return
    if not a.report:
        print(machine_line(machine()), flush=True)
        pkg = None if a.live_code else snapshot_package()
        if pkg: print(f'[scale] code snapshot {pkg} (cold and warm runs of this invocation share it)', flush=True)
        for n in a.scales:
            for mode in a.modes:
                rc = _child(n, mode, extra, a.profile, a.breakdown, a.omp_active, a.max_rss_gb, pkg, a.cluster, a.time_limit_s)
                if rc: print(f'[scale] SCALE_N={n} {mode} failed with exit code {rc}', flush=True)
    print(report())


if __name__ == '__main__':
    main()
