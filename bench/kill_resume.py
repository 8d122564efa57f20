#!/usr/bin/env python
"""Kill the job with SIGKILL at moments spread over every stage, rerun it, and check that the rerun's results equal an
uninterrupted run's exactly (`final_scale_summary_metrics_{N}.csv` and `recommendations_{N}.parquet`).

    python bench/kill_resume.py                      # synthetic 6k rows, a kill in the middle of each stage + extra ones
    python bench/kill_resume.py --fracs 0.2 0.5 0.9  # three kill points per stage

The child jobs run with one thread each (OMP/BLAS), so that the uninterrupted run is bit-reproducible. A kill point is
"stage S started, then S's reference duration x frac elapsed": the parent reads the child's stage log on stderr. Results go
to results/kill_resume.json and results/kill_resume.md.
"""
from __future__ import annotations
import argparse, json, os, signal, subprocess, sys, tempfile, threading, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, offline_env, machine, machine_line, write_json

STAGES = ['data', 'embeddings', 'tuning', 'mf', 'candidates', 'ltr', 'evaluate']
CHILD = "import json, sys; from hybrid_recommender.job import Job; j = Job(**json.loads(sys.argv[1])); j.run()"


def child_env() -> dict:
    e = dict(os.environ, OMP_NUM_THREADS='1', OPENBLAS_NUM_THREADS='1', MKL_NUM_THREADS='1', HR_PROGRESS='0', PYTHONUNBUFFERED='1')
    e.setdefault('OMP_WAIT_POLICY', 'PASSIVE'); return e


def run(params: dict, kill_at: tuple | None = None) -> dict:
    "Run the job in a child process; with kill_at=(stage, seconds) SIGKILL it that long after the stage starts."
    p = subprocess.Popen([sys.executable, '-c', CHILD, json.dumps(params)], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=child_env())
    started, lines = {}, []
    def read():
        for l in p.stderr:
            lines.append(l)
            for s in STAGES:
                if f'] {s}: start' in l: started[s] = time.perf_counter()
    t = threading.Thread(target=read, daemon=True); t.start(); t0 = time.perf_counter(); killed = None
    if kill_at:
        s, d = kill_at
        while s not in started and p.poll() is None: time.sleep(0.01)
        if p.poll() is None:
            time.sleep(max(0.0, d - (time.perf_counter() - started[s])))
            if p.poll() is None: p.send_signal(signal.SIGKILL); killed = {'stage': s, 'after_s': round(time.perf_counter() - started[s], 2)}
    p.wait(); t.join(timeout=5)
    return {'rc': p.returncode, 'seconds': round(time.perf_counter() - t0, 1), 'killed': killed, 'tail': ''.join(lines[-5:])}


def outputs(out: Path, n: int):
    import pandas as pd
    return pd.read_csv(out / f'final_scale_summary_metrics_{n}.csv'), pd.read_parquet(out / f'recommendations_{n}.parquet')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--scale-n', type=int, default=6000); ap.add_argument('--fracs', type=float, nargs='*', default=[0.5])
    ap.add_argument('--extra', type=float, nargs='*', default=[0.15, 0.85], help='more kill fractions in the two longest stages')
    a = ap.parse_args(); offline_env()
    import pandas as pd
    root = Path(tempfile.mkdtemp(prefix='kill_resume_'))
    params = dict(DATA_SOURCE='synthetic', SCALE_N=a.scale_n, SEED=0, EMB_BACKEND='tfidf', TUNE_BASELINES='none', BOOTSTRAP=100, EXTRA_PASSES=1)
    ref = run({**params, 'OUT_DIR': str(root / 'ref')}); assert ref['rc'] == 0, ref['tail']
    man = json.loads((root / 'ref' / f'run_manifest_{a.scale_n}.json').read_text()); dur = {s: man['stages'][s]['seconds'] for s in STAGES}
    print(machine_line(machine()), f'\nreference run: {ref["seconds"]} s; stages {dur}', flush=True)
    rs, rr = outputs(root / 'ref', a.scale_n)
    longest = sorted(STAGES, key=dur.get)[-2:]
    points = [(s, f) for s in STAGES for f in a.fracs] + [(s, f) for s in longest for f in a.extra]
    rows = []
    for i, (s, f) in enumerate(points):
        out = root / f'k{i}'; k = run({**params, 'OUT_DIR': str(out)}, (s, dur[s] * f))
        again = run({**params, 'OUT_DIR': str(out)})
        ok = again['rc'] == 0
        if ok:
            s2, r2 = outputs(out, a.scale_n); ok = s2.equals(rs) and r2.equals(rr)
        rows.append({'stage': s, 'frac': f, 'killed': k['killed'], 'killed_rc': k['rc'], 'rerun_s': again['seconds'], 'identical': bool(ok),
                     **({} if again['rc'] == 0 else {'rerun_tail': again['tail']})})
        print(f"kill {i + 1}/{len(points)}: {s} at {f:.0%} -> {k['killed']}, rerun {again['seconds']} s, identical: {ok}", flush=True)
    res = {'kind': 'kill_resume', 'time': time.strftime('%Y-%m-%d %H:%M:%S'), 'machine': machine(), 'params': params,
           'reference_s': ref['seconds'], 'stage_seconds': dur, 'points': rows, 'identical': sum(r['identical'] for r in rows), 'tried': len(rows)}
    write_json(RESULTS / 'kill_resume.json', res)
    md = ['# Kill at any moment (`bench/kill_resume.py`)', '', machine_line(res['machine']), '',
          f"Synthetic job, SCALE_N={a.scale_n}, one thread per process; uninterrupted reference {res['reference_s']} s. Each row: SIGKILL while the stage "
          "runs, then a plain rerun in the same OUT_DIR; 'identical' = the rerun's summary CSV and recommendations equal the reference exactly.", '',
          '| stage | killed after (s) | rerun (s) | identical |', '|---|---|---|---|']
    md += [f"| {r['stage']} | {r['killed']['after_s'] if r['killed'] else 'finished before the kill'} | {r['rerun_s']} | {r['identical']} |" for r in rows]
    md += ['', f"{res['identical']} of {res['tried']} kill points resumed to identical results."]
    (RESULTS / 'kill_resume.md').write_text('\n'.join(md) + '\n'); print('\n'.join(md))
    sys.exit(0 if res['identical'] == res['tried'] else 1)


if __name__ == '__main__':
    main()
