#!/usr/bin/env python
"""The data stage's two local engines on a large JSON-lines file: pandas (read everything) vs DuckDB (pre-sample out of core).

    python bench/data_engines.py                          # 5M-row synthetic reviews.jsonl, sampled to 1M rows
    python bench/data_engines.py --rows 2000000 --scale 500000
    python bench/data_engines.py --none                   # SCALE_N=None up to the RecData: strings in pandas vs DuckDB's codes

Writes a synthetic Amazon-2023-schema `reviews.jsonl` + `items.jsonl` (once, under $BENCH_OUT/data_engines), then runs
`data.load_local` + `clean_reviews` + `sample_users` with each engine in a fresh process: wall seconds, peak RSS, rows
handed to pandas, and whether both engines keep the same sampled rows. Writes `results/data_engines.json` and `.md`.

`--none`: the whole file (SCALE_N=None) up to the `RecData`, each side in a fresh process: *before* =
`load_local(engine='duckdb')` + `prepare` on the strings (the path until #26; `--before-src` runs it on an older checkout's
package), *after* = `duckdb_codes` + `prepare_codes` (DuckDB cleans, samples and encodes; pandas gets int32 codes). Wall s, CPU
s, peak RSS (VmHWM), and whether the two RecData are identical frame for frame. A side whose RSS passes `--rss-cap-gb` (default
12) is stopped and reported as such; *strings* (pyarrow reads only the four review fields, then `prepare` on strings, on the
`--before-src` package too) is the identity reference where *before* cannot finish. Writes `results/data_engines_none.*` (one
entry per `--rows`; `--sides after` reruns one side and keeps the other's earlier numbers, marked as such).
"""
from __future__ import annotations
import argparse, json, os, subprocess, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, offline_env, machine, machine_line, write_json, _vmhwm_gb

OUT = Path(os.environ.get('BENCH_OUT', '/tmp/bench_out')) / 'data_engines'
SIDES = ('after', 'before', 'strings')   # --none: the new path, today's path, and an identity reference that fits where today's does not


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


def none_side(path: str, side: str, dump: str) -> dict:
    "One side of the SCALE_N=None comparison in this process; its RecData frames go to `dump` (after the measurement)."
    import resource
    from hybrid_recommender import data as D
    t0 = time.perf_counter()
    if side == 'before':
        rev, items = D.load_local(path, None, seed=0, engine='duckdb'); rd = D.prepare(rev, items, None, seed=0); del rev, items
    elif side == 'strings':                           # the identity reference: the four fields read by pyarrow, `prepare` on strings
        import pyarrow as pa, pyarrow.json as pj
        sch = pa.schema([('user_id', pa.string()), ('parent_asin', pa.string()), ('rating', pa.float64()), ('timestamp', pa.float64())])
        po = pj.ParseOptions(explicit_schema=sch, unexpected_field_behavior='ignore')
        rev = pj.read_json(Path(path) / 'reviews.jsonl', parse_options=po).to_pandas()
        rd = D.prepare(rev, D.from_legacy(D.read_table(Path(path) / 'items.jsonl'), items=True), None, seed=0); del rev
    else:
        rp, ip, _ = D._local_files(path, 'duckdb'); c, rep = D.duckdb_codes(rp, None, seed=0)
        rd = D.prepare_codes(c, D._local_items(ip, c.parent_asins), rep, seed=0); del c
    dt, ru = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    r = {'side': side, 'wall_s': round(dt, 1), 'cpu_s': round(ru.ru_utime + ru.ru_stime, 1), 'peak_rss_gb': round(_vmhwm_gb(), 2),
         'rows_in': rd.report['rows_in'], 'rows_after_kcore': rd.report['rows_after_kcore'], 'users': rd.n_users, 'items': rd.n_items,
         'package': D.__file__}
    Path(dump).mkdir(parents=True, exist_ok=True)
    for f in ('train', 'valid', 'test', 'hist', 'users'): getattr(rd, f).to_parquet(Path(dump) / f'{f}.parquet')
    rd.items[['iid', 'parent_asin', 'text', 'has_text']].to_parquet(Path(dump) / 'items.parquet')
    (Path(dump) / 'report.json').write_text(json.dumps(rd.report, default=str, sort_keys=True))
    print(json.dumps(r), flush=True); return r


def _run_capped(cmd: list, cap_gb: float, env: dict | None = None) -> tuple[int, str, str, float, float]:
    "Run `cmd`, killing it when its RSS passes `cap_gb`: (returncode, stdout, stderr, highest RSS seen in GB, wall s)."
    import psutil, tempfile
    with tempfile.TemporaryFile('w+') as fo, tempfile.TemporaryFile('w+') as fe:
        t0 = time.perf_counter(); pr = subprocess.Popen(cmd, stdout=fo, stderr=fe, text=True, env=env); ps, hi = psutil.Process(pr.pid), 0.0
        while pr.poll() is None:
            try: hi = max(hi, ps.memory_info().rss / 2**30)
            except psutil.Error: pass
            if hi > cap_gb: pr.kill(); pr.wait(); break
            time.sleep(0.25)
        fo.seek(0); fe.seek(0); return pr.returncode, fo.read(), fe.read(), hi, time.perf_counter() - t0


def main_none(a, d: Path):
    "SCALE_N=None: today's string path vs DuckDB's codes, each in a fresh process; results/data_engines_none.{json,md} (one entry per --rows)."
    import pandas as pd
    size = (d / 'reviews.jsonl').stat().st_size
    res = {'time': time.strftime('%Y-%m-%d %H:%M:%S'), 'machine': machine(), 'rows': a.rows, 'scale_n': None,
           'reviews_jsonl_gb': round(size / 2**30, 2), 'rss_cap_gb': a.rss_cap_gb, 'runs': [],
           'code': {'after': 'working tree', 'before': _git_head(a.before_src) if a.before_src else 'working tree'}}
    prev = {r['side']: {**r, 'from_earlier_run': r.get('from_earlier_run', old['time'])}
            for old in [_none_results()['by_rows'].get(str(a.rows), {'runs': []})] for r in old['runs']}
    for side in SIDES:
        if side not in a.sides:                                              # not rerun: the earlier run's numbers, marked as such
            if side in prev: res['runs'].append(prev[side])
            continue
        env = {**os.environ, **({'PYTHONPATH': a.before_src} if side != 'after' and a.before_src else {})}
        cmd = [sys.executable, __file__, '--none-side', str(d), side, str(OUT / f'none_{side}')]
        rc, so, se, hi, wall = _run_capped(cmd, a.rss_cap_gb, env)
        line = [l for l in so.splitlines() if l.startswith('{')]
        res['runs'].append(json.loads(line[-1]) if line and rc == 0 else
                           {'side': side, 'failed': rc, 'rss_seen_gb': round(hi, 2), 'stopped_at_cap': hi > a.rss_cap_gb,
                            'stopped_after_s': round(wall, 1), 'stderr': se[-2000:]})
        print(res['runs'][-1], flush=True)
    done = {r['side'] for r in res['runs'] if 'wall_s' in r and 'from_earlier_run' not in r}
    res['identical'] = {o: (_same_recdata(o, res) if {'after', o} <= done else None) for o in SIDES[1:]}   # None: not compared
    allr = _none_results(); allr['by_rows'][str(a.rows)] = res; write_none(allr)


def _same_recdata(other: str, res: dict) -> bool:
    "Whether the after side's RecData (frames as dumped, report) equals `other`'s; differences go into `res`."
    import pandas as pd
    rd, same = (lambda s, f: pd.read_parquet(OUT / f'none_{s}' / f'{f}.parquet')), True
    for f in ('train', 'valid', 'test', 'hist', 'users', 'items'):
        try: pd.testing.assert_frame_equal(rd('after', f), rd(other, f))
        except AssertionError as e: same = False; res.setdefault('differences', []).append(f'{other} {f}: {str(e)[:300]}')
    return same and (OUT / 'none_after' / 'report.json').read_text() == (OUT / f'none_{other}' / 'report.json').read_text()


def _git_head(src: str) -> str:
    "`<commit> (<dir>)` of the checkout whose package the before side imports."
    return subprocess.run(['git', '-C', src, 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip() + f' ({src})'


def _none_results() -> dict:
    "The results file of --none (one entry per --rows), or an empty one."
    p = RESULTS / 'data_engines_none.json'
    r = json.loads(p.read_text()) if p.exists() else {'kind': 'data_engines_none', 'by_rows': {}}
    return r if 'by_rows' in r else {'kind': 'data_engines_none', 'by_rows': {str(r['rows']): r}}     # a single run: one entry


def write_none(allr: dict):
    "results/data_engines_none.{json,md}: a table per file size."
    write_json(RESULTS / 'data_engines_none.json', allr)
    L = ["# SCALE_N=None up to the RecData: strings in pandas vs DuckDB's codes", '']
    what = {'before': '`load_local(engine="duckdb")` + `prepare` on strings', 'after': '`duckdb_codes` + `prepare_codes` (int32 codes)',
            'strings': 'reference: pyarrow reads the 4 fields, `prepare` on strings'}
    for _, res in sorted(allr['by_rows'].items(), key=lambda kv: -int(kv[0])):
        same = res['identical'] if isinstance(res['identical'], dict) else {'before': res['identical']}
        why = f" (it did not finish under `--rss-cap-gb` {res['rss_cap_gb']} GB, or was not rerun)"
        cmp = '; '.join(f"to {o}: **{v}**" if v is not None else f"to {o}: **not compared**{why}" for o, v in same.items()
                        if o in {r['side'] for r in res['runs']})
        L += [f"## {res['rows']:,} rows ({res['time']})", '', machine_line(res['machine']), '',
              f"Synthetic `reviews.jsonl` ({res['reviews_jsonl_gb']} GB), every user kept, 5-core, `last_out`. The after side's RecData "
              f"(train/valid/test/hist/users/items frames and report) identical {cmp}.",
              *[f"The {r['side']} side is from an earlier run ({r['from_earlier_run']})." for r in res['runs'] if 'from_earlier_run' in r],
              *([f"Code: before = {res['code']['before']}, after = {res['code']['after']}."] if 'code' in res else []), '',
              '| side | path | wall s | CPU s | peak RSS GB | rows in | rows after 5-core | users | items |', '|---|---|---|---|---|---|---|---|---|']
        for r in sorted(res['runs'], key=lambda r: ('before', 'after', 'strings').index(r['side'])):
            L.append(f"| {r['side']} | {what[r['side']]} | {r['wall_s']} | {r['cpu_s']} | {r['peak_rss_gb']} | {r['rows_in']:,} | "
                     f"{r['rows_after_kcore']:,} | {r['users']:,} | {r['items']:,} |" if 'wall_s' in r else
                     f"| {r['side']} | {what[r['side']]} | failed (rc {r['failed']}; RSS seen {r['rss_seen_gb']} GB"
                     f"{', stopped at the cap after ' + str(r.get('stopped_after_s', '?')) + ' s' if r['stopped_at_cap'] else ''}) | | | | | | |")
        L.append('')
    (RESULTS / 'data_engines_none.md').write_text('\n'.join(L)); print('\n'.join(L))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--rows', type=int, default=5_000_000); ap.add_argument('--scale', type=int, default=1_000_000)
    ap.add_argument('--one', nargs=3, metavar=('PATH', 'SCALE', 'ENGINE'))
    ap.add_argument('--none', action='store_true', help='SCALE_N=None up to the RecData: before (strings) vs after (codes)')
    ap.add_argument('--rss-cap-gb', type=float, default=12.0, help='--none: stop a side whose RSS passes this')
    ap.add_argument('--none-side', nargs=3, metavar=('PATH', 'SIDE', 'DUMP'))
    ap.add_argument('--none-report', action='store_true', help='rewrite results/data_engines_none.md from its JSON')
    ap.add_argument('--before-src', help='--none: a checkout (a `git worktree` of the commit before) whose package the before side imports')
    ap.add_argument('--sides', nargs='+', default=list(SIDES), help="--none: the sides to run (the others: the results file's earlier run)")
    a = ap.parse_args(); offline_env()
    if a.one: one(a.one[0], int(a.one[1]), a.one[2]); return
    if a.none_side: none_side(*a.none_side); return
    if a.none_report: write_none(_none_results()); return
    d = make(a.rows)
    if a.none: main_none(a, d); return
    size = (d / 'reviews.jsonl').stat().st_size
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
