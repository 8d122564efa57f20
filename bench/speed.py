#!/usr/bin/env python
"""Speed, side by side: the code at a git ref ("before") against the working tree ("after"), alternating, same machine, same run.

    python bench/speed.py --before 2c7281c                       # every case below, before/after alternating, + the RecTools peer
    python bench/speed.py --before 2c7281c --cases ml100k        # one case
    python bench/speed.py --report                               # rebuild results/speed.md from results/speed.json

Absolute seconds on a shared 2-core box drift by tens of percent between hours, so the targets of issue #15 are ratios
measured in one invocation: each case runs before, after (and for ml100k the peer) back to back in fresh processes, the
order alternating between repeats. Each side imports its own snapshot of the package (`git archive <ref>` for before, a copy
of the working tree for after), with its own JOB_DEFAULTS: that is what "the code at the start of the issue" means.

Cases
- `syn20k_cold`   synthetic 20k review rows, empty OUT_DIR, whole job (data -> evaluate + manifest).
- `syn200k_cold`  synthetic 200k, empty OUT_DIR; then `syn200k_warm`: the same OUT_DIR again (every artifact cached).
- `ml100k`        MovieLens-100K (../shared/data), whole job; "two-stage" = fit + predict of the model itself
                  (embeddings + mf + candidates + ltr stages + scoring the test pool), without baseline tuning, bootstrap or report,
                  the quantity compared with RecTools' CandidateRankingModel (bench/peer_rectools.py, its own venv).
Per run: wall seconds per stage and in total, peak RSS of the process, Hybrid NDCG@10 on test.
"""
from __future__ import annotations
import argparse, json, os, shutil, subprocess, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, REPO, offline_env, machine, machine_line, LoadMeter, write_json

OUT_ROOT = Path(os.environ.get('BENCH_OUT', '/tmp/bench_out')) / 'speed'
STAGES = ['data', 'embeddings', 'tuning', 'mf', 'candidates', 'ltr', 'evaluate']   # 'tuning': 0 for code that predates it
SHARED = Path(os.environ.get('HR_SHARED_DATA', REPO.parent / 'shared' / 'data'))
CASES = {'syn20k_cold': dict(DATA_SOURCE='synthetic', SCALE_N=20_000),
         'syn200k_cold': dict(DATA_SOURCE='synthetic', SCALE_N=200_000),
         'ml100k': dict(DATA_SOURCE='local', DATA_PATH=str(SHARED / 'movielens100k'), SCALE_N=100_000)}
TARGETS = {'syn20k_cold': 3.0, 'syn200k_cold': 2.0, 'syn200k_warm': 2.0}   # speed-up (before / after) asked by issue #15


def child(params: dict, out: str, mode: str) -> dict:
    "One job run in this (fresh) process; returns stage seconds, totals, peak RSS, NDCG, the two-stage time."
    offline_env()
    import resource, numpy as np
    if mode == 'cold' and Path(out).exists(): shutil.rmtree(out)
    import hybrid_recommender
    from hybrid_recommender.job import Job
    from hybrid_recommender.ltr import rerank
    t0 = time.perf_counter()
    job = Job(**params, OUT_DIR=out, SEED=42); job.run()
    total = time.perf_counter() - t0
    uids = np.sort(job.D.test.uid.unique()); t1 = time.perf_counter()
    rerank(job.model, job.test_cand, uids, job.P['K'], job.info['ltr'].get('guard'))        # the model's predict step, timed alone
    predict = time.perf_counter() - t1
    st = {s: job.stages.get(s, {}).get('seconds', 0.0) for s in STAGES}
    hyb = job.summary.set_index('method').loc['Hybrid (reranked)']
    return {'package': str(Path(hybrid_recommender.__file__).parent), 'total_s': round(total, 2), 'stages': st,
            'two_stage_s': round(sum(st[s] for s in ('embeddings', 'mf', 'candidates', 'ltr')) + predict, 2), 'predict_s': round(predict, 2),
            'peak_rss_gb': round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
            'ndcg': float(hyb['NDCG@10']), 'train_rows': len(job.train_set), 'guard': job.info['ltr'].get('guard', {}).get('choice'),
            'loaded': sorted(s for s in STAGES if job.stages.get(s, {}).get('loaded'))}


def snapshot(ref: str | None) -> Path:
    "The package at a git ref (git archive) or, with None, the working tree as it is now; returns the folder to put on PYTHONPATH."
    dst = OUT_ROOT.parent / 'pkg' / (f'ref-{ref}' if ref else 'worktree')
    if dst.exists(): shutil.rmtree(dst)
    dst.mkdir(parents=True)
    if ref: subprocess.run(f'git -C {REPO} archive {ref} hybrid_recommender | tar -x -C {dst}', shell=True, check=True)
    else: shutil.copytree(REPO / 'hybrid_recommender', dst / 'hybrid_recommender', ignore=shutil.ignore_patterns('__pycache__'))
    return dst


def run_side(side: str, pkg: Path, case: str, mode: str) -> dict:
    "Run one case on one side in a fresh interpreter with `pkg` first on the path."
    params = CASES[case.replace('_warm', '_cold')]
    out = OUT_ROOT / side / case.replace('_warm', '_cold')
    env = {**os.environ, 'PYTHONPATH': str(pkg), 'OMP_WAIT_POLICY': os.environ.get('OMP_WAIT_POLICY', 'PASSIVE')}
    cmd = [sys.executable, __file__, '--child', json.dumps(params), str(out), mode]
    with LoadMeter() as lm:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode: raise SystemExit(f'[speed] {side} {case} failed:\n{p.stderr[-3000:]}')
    res = json.loads(p.stdout.strip().splitlines()[-1])
    res.update(side=side, case=case, other_cores_busy=lm.result['other_cores_busy'], when=time.strftime('%Y-%m-%d %H:%M:%S'))
    print(f"[speed] {case:<13} {side:<6} total {res['total_s']:7.1f} s  two-stage {res['two_stage_s']:6.1f} s  peak RSS {res['peak_rss_gb']:.2f} GB  "
          f"NDCG@10 {res['ndcg']:.4f}  " + ' '.join(f"{s} {res['stages'].get(s, 0):.1f}" for s in STAGES), flush=True)
    return res


def run_peer() -> dict | None:
    "bench/peer_rectools.py in its own venv (None when the venv is missing)."
    p = subprocess.run([sys.executable, str(REPO / 'bench' / 'peer_rectools.py')], capture_output=True, text=True)
    if p.returncode: print(f'[speed] peer skipped: {p.stdout[-500:]}{p.stderr[-500:]}', flush=True); return None
    r = json.loads((RESULTS / 'peer_rectools.json').read_text()); pr = r['peer']
    print(f"[speed] ml100k        peer   fit + predict {pr['fit_s'] + pr['predict_s']:.1f} s  NDCG@10 {r['summary']['NDCG@10']:.4f}", flush=True)
    return {'side': 'peer', 'case': 'ml100k', 'fit_s': pr['fit_s'], 'predict_s': pr['predict_s'], 'two_stage_s': round(pr['fit_s'] + pr['predict_s'], 2),
            'ndcg': r['summary']['NDCG@10'], 'versions': pr.get('libs'), 'when': time.strftime('%Y-%m-%d %H:%M:%S')}


def _med(rs, key):
    import numpy as np
    v = [r[key] for r in rs]; return float(np.median(v)) if v else float('nan')


def report() -> str:
    "results/speed.md from results/speed.json."
    R = json.loads((RESULTS / 'speed.json').read_text()); runs = R['runs']
    L = ['# Speed, side by side (`bench/speed.py`)', '', machine_line(R['machine']), '',
         f"before = `{R['before']}` (the code when issue #15 was started), after = the working tree at `{R['after_code']}`; "
         f"{R['repeats']} alternating repeat(s) per case, median shown; run {R['time']}. Each side uses its own JOB_DEFAULTS.", '',
         '| case | before s | after s | speed-up | target | before peak RSS GB | after peak RSS GB | before NDCG@10 | after NDCG@10 |', '|---|---|---|---|---|---|---|---|---|']
    for case in [c for c in ('syn20k_cold', 'syn200k_cold', 'syn200k_warm', 'ml100k') if any(r['case'] == c for r in runs)]:
        b = [r for r in runs if r['case'] == case and r['side'] == 'before']; a = [r for r in runs if r['case'] == case and r['side'] == 'after']
        if not (a and b): continue
        sb, sa = _med(b, 'total_s'), _med(a, 'total_s'); t = TARGETS.get(case)
        L.append(f"| {case} (whole job) | {sb:,.1f} | {sa:,.1f} | **{sb / sa:.2f}x** | {f'≥ {t:g}x: ' + ('met' if sb / sa >= t else '**not met**') if t else '—'} | "
                 f"{_med(b, 'peak_rss_gb'):.2f} | {_med(a, 'peak_rss_gb'):.2f} | {_med(b, 'ndcg'):.4f} | {_med(a, 'ndcg'):.4f} |")
    L += ['', 'Per stage (median wall seconds, before → after):', '', '| case | ' + ' | '.join(STAGES) + ' |', '|' + '---|' * (len(STAGES) + 1)]
    for case in ('syn20k_cold', 'syn200k_cold', 'syn200k_warm', 'ml100k'):
        b = [r for r in runs if r['case'] == case and r['side'] == 'before']; a = [r for r in runs if r['case'] == case and r['side'] == 'after']
        if a and b:
            import numpy as np
            L.append(f'| {case} | ' + ' | '.join(f"{np.median([r['stages'].get(s, 0) for r in b]):.1f} → {np.median([r['stages'].get(s, 0) for r in a]):.1f}" for s in STAGES) + ' |')
    peer = [r for r in runs if r['side'] == 'peer']
    ml = {s: [r for r in runs if r['case'] == 'ml100k' and r['side'] == s] for s in ('before', 'after')}
    if ml['after']:
        L += ['', '## MovieLens-100K: two-stage fit + predict against the RecTools peer', '',
              'Two-stage = embeddings + mf + candidates + ltr stages + scoring the test pool (no baseline tuning, bootstrap or report); '
              'the peer is RecTools `CandidateRankingModel` (ALS + EASE + Popular + ItemKNN candidates, CatBoost reranker) on the same split, '
              'fit on train + valid, recommending for the test users (bench/peer_rectools.py, own venv).', '',
              '| model | fit + predict s | × peer | NDCG@10 |', '|---|---|---|---|']
        pk = _med(peer, 'two_stage_s') if peer else None
        for s in ('before', 'after'):
            if ml[s]: v = _med(ml[s], 'two_stage_s'); L.append(f"| hybrid_recommender ({s}) | {v:.1f} | {f'{v / pk:.1f}x' if pk else '—'} | {_med(ml[s], 'ndcg'):.4f} |")
        if peer: L.append(f"| RecTools CandidateRankingModel (peer) | {pk:.1f} | 1.0x | {_med(peer, 'ndcg'):.4f} |")
    md = '\n'.join(L) + '\n'; (RESULTS / 'speed.md').write_text(md); return md


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--before', default='2c7281c', help='git ref of the "before" code')
    ap.add_argument('--cases', nargs='+', default=['syn20k_cold', 'syn200k_cold', 'ml100k'], choices=list(CASES))
    ap.add_argument('--repeats', type=int, default=1)
    ap.add_argument('--no-peer', action='store_true')
    ap.add_argument('--merge', action='store_true', help='keep the runs of results/speed.json for the cases not rerun now')
    ap.add_argument('--report', action='store_true')
    ap.add_argument('--child', nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(json.loads(a.child[0]), a.child[1], a.child[2]))); return
    if not a.report:
        from _common import code_version
        m = machine(); print(machine_line(m), flush=True)
        pk = {'before': snapshot(a.before), 'after': snapshot(None)}
        runs = []
        for rep in range(a.repeats):
            for case in a.cases:
                order = ['before', 'after'] if rep % 2 == 0 else ['after', 'before']
                for side in order:
                    runs.append(run_side(side, pk[side], case, 'cold'))
                    if case == 'syn200k_cold': runs.append(run_side(side, pk[side], 'syn200k_warm', 'warm'))
                if case == 'ml100k' and not a.no_peer and (p := run_peer()): runs.append(p)
        if a.merge and (RESULTS / 'speed.json').exists():
            rerun = set(a.cases) | ({'syn200k_warm'} if 'syn200k_cold' in a.cases else set())
            runs = [r for r in json.loads((RESULTS / 'speed.json').read_text())['runs'] if r['case'] not in rerun] + runs
        write_json(RESULTS / 'speed.json', {'machine': m, 'before': a.before, 'after_code': code_version()['git_head'] + ('+dirty' if code_version()['package_dirty'] else ''),
                                            'repeats': a.repeats, 'time': time.strftime('%Y-%m-%d %H:%M:%S'), 'runs': runs})
    print(report())


if __name__ == '__main__':
    main()
