#!/usr/bin/env python
"""The data stage's two local engines on a large JSON-lines file: pandas (read everything) vs DuckDB (pre-sample out of core).

    python bench/data_engines.py                          # 5M-row synthetic reviews.jsonl, sampled to 1M rows
    python bench/data_engines.py --rows 2000000 --scale 500000

Writes a synthetic Amazon-2023-schema `reviews.jsonl` + `items.jsonl` (once, under $BENCH_OUT/data_engines), then runs
`data.load_local` + `clean_reviews` + `sample_users` with each engine in a fresh process: wall seconds, peak RSS, rows
handed to pandas, and whether both engines keep the same sampled rows. Writes `results/data_engines.json` and `.md`.
"""
from __future__ import annotations
import argparse, json, os, subprocess, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, offline_env, machine, machine_line, write_json, _vmhwm_gb

OUT = Path(os.environ.get('BENCH_OUT', '/tmp/bench_out')) / 'data_engines'


def make(rows: int) -> Path:
    "Synthetic reviews + items as JSON lines (kept between runs)."
    d = OUT / f'{rows}'
    if (d / 'reviews.jsonl').exists() and (d / 'items.jsonl').exists(): return d
    from hybrid_recommender.data import synthetic_reviews
    d.mkdir(parents=True, exist_ok=True); t0 = time.perf_counter()
    rv, it = synthetic_reviews(rows, seed=7)
    for df, name in ((rv, 'reviews'), (it, 'items')):
        tmp = d / f'.{name}.jsonl.tmp'; df.to_json(tmp, orient='records', lines=True); tmp.rename(d / f'{name}.jsonl')
    print(f'[data] wrote {len(rv):,} reviews, {len(it):,} items in {time.perf_counter() - t0:.0f} s -> {d}', flush=True)
    return d


def one(path: str, scale: int, engine: str) -> dict:
    "Run one engine in this process; print a JSON line."
    import resource, hashlib
    from hybrid_recommender.data import load_local, clean_reviews, sample_users
    t0 = time.perf_counter()
    rev, items = load_local(path, scale, seed=0, engine=engine, memory_limit='2GB')
    s = sample_users(clean_reviews(rev)[0], scale, seed=0)[0].sort_values(['user_id', 'parent_asin']).reset_index(drop=True)
    dt = time.perf_counter() - t0
    digest = hashlib.sha1(s[['user_id', 'parent_asin', 'rating']].to_csv(index=False).encode()).hexdigest()[:12]
    r = {'engine': engine, 'seconds': round(dt, 1), 'peak_rss_gb': round(_vmhwm_gb(), 2),
         'rows_to_pandas': len(rev), 'items_to_pandas': 0 if items is None else len(items), 'sampled_rows': len(s), 'sample_digest': digest}
    print(json.dumps(r), flush=True); return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--rows', type=int, default=5_000_000); ap.add_argument('--scale', type=int, default=1_000_000)
    ap.add_argument('--one', nargs=3, metavar=('PATH', 'SCALE', 'ENGINE'))
    a = ap.parse_args(); offline_env()
    if a.one: one(a.one[0], int(a.one[1]), a.one[2]); return
    d = make(a.rows); size = (d / 'reviews.jsonl').stat().st_size
    res = {'kind': 'data_engines', 'time': time.strftime('%Y-%m-%d %H:%M:%S'), 'machine': machine(), 'rows': a.rows, 'scale_n': a.scale,
           'reviews_jsonl_gb': round(size / 2**30, 2), 'runs': []}
    for engine in ('duckdb', 'pandas'):
        out = subprocess.run([sys.executable, __file__, '--one', str(d), str(a.scale), engine], capture_output=True, text=True)
        line = [l for l in out.stdout.splitlines() if l.startswith('{')]
        res['runs'].append(json.loads(line[-1]) if line and out.returncode == 0 else {'engine': engine, 'failed': out.returncode, 'stderr': out.stderr[-2000:]})
        print(res['runs'][-1], flush=True)
    ok = [r for r in res['runs'] if 'sample_digest' in r]
    res['same_sample'] = len(ok) == 2 and ok[0]['sample_digest'] == ok[1]['sample_digest']
    write_json(RESULTS / 'data_engines.json', res)
    L = [f"# Local data engines ({res['time']})", '', machine_line(res['machine']), '',
         f"{a.rows:,}-row synthetic `reviews.jsonl` ({res['reviews_jsonl_gb']} GB), sampled to SCALE_N={a.scale:,}; same sampled rows: **{res['same_sample']}**.", '',
         '| engine | wall s | peak RSS GB | review rows parsed by pandas | item rows parsed by pandas | sampled rows |', '|---|---|---|---|---|---|']
    for r in res['runs']:
        L.append(f"| {r['engine']} | {r.get('seconds', '—')} | {r.get('peak_rss_gb', '—')} | {r.get('rows_to_pandas', '—'):,} | {r.get('items_to_pandas', '—'):,} | {r.get('sampled_rows', '—'):,} |"
                 if 'seconds' in r else f"| {r['engine']} | failed ({r['failed']}) | | | | |")
    (RESULTS / 'data_engines.md').write_text('\n'.join(L) + '\n'); print('\n'.join(L))


if __name__ == '__main__':
    main()
