"""The data stage of the Kaggle default (DATA_SOURCE="hf") before vs after, over one loopback hub, side by side (issue #24).

A category is written in the hub's layout and the 2023 schema (`hub.write_category`: review JSON lines at the real files'
524 bytes a line, meta JSON lines padded to the real 3.3 KB a line, the rating-only CSV) with realistic id lengths, and served
by `hub.LoopbackHub` on 127.0.0.1. Each side runs `load_data('hf', ...)` from an empty OUT_DIR in its own process against
that server (HF_ENDPOINT): "before" is the package at a git ref (`git archive`; its `check_hub` is bypassed because it
refused any HF_ENDPOINT, the first bug of #24), "after" is the working tree. Per side: wall and CPU seconds of the call, peak
RSS (VmHWM), bytes served per file (the server's own count) and MB/s, and the sampled users (compared). Also: pyarrow vs
DuckDB parsing the same CSV with the same user-hash filter, and the extrapolation to Electronics at SCALE_N=200000 from
the published file sizes.

    python bench/hub_data.py                      # Appliances-sized category (2.13M reviews, 1.1 GB of review JSON), before = fbefb67
    python bench/hub_data.py --before <ref> --category All_Beauty

Results: bench/results/hub_data.json and hub_data.md.
"""
from __future__ import annotations
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, RESULTS, machine, machine_line, write_json, LoadMeter

ELECTRONICS = {'raw_gb': 22.62, 'meta_gb': 5.25, 'csv_gb': 2.52, 'rows': 43_886_944, 'items': 1_610_012}   # published sizes
BENCH_OUT = Path(os.environ.get('BENCH_OUT', '/tmp/bench_out'))

CHILD = r'''
import json, os, sys, time, resource
sys.path.insert(0, sys.argv[1]) if sys.argv[1] else None
import hybrid_recommender.data as d
if sys.argv[2] == 'before':
    import pandas as pd
    d.check_hub = lambda *a, **k: None          # the old probe refused every HF_ENDPOINT (#24, bug 1)
    _sub = d._item_subset                       # and the old items cache failed on the raw files' "None" prices (parquet): coerce them
    d._item_subset = lambda it, rev: _sub(it.assign(price=pd.to_numeric(it.price, errors='coerce')) if it is not None and 'price' in it else it, rev)
reads = {}                                      # CPU seconds of each file's read, by URL
def timed(fn, url_arg=0):
    def w(*a, **k):
        c = time.process_time()
        try: return fn(*a, **k)
        finally: u = str(a[url_arg]); reads[u] = reads.get(u, 0) + time.process_time() - c
    return w
for name in ('scan_lines', 'stream_sample', 'stream_meta'):          # after: scan_lines; before: stream_sample / stream_meta
    if hasattr(d, name) and not (name == 'stream_meta' and hasattr(d, 'scan_lines')): setattr(d, name, timed(getattr(d, name)))
t0, c0 = time.perf_counter(), time.process_time()
data = d.load_data('hf', category=sys.argv[3], scale_n=int(sys.argv[4]), seed=int(sys.argv[5]), store=d.ArtifactStore(sys.argv[6], int(sys.argv[4])), k_core=0)   # k-core: cheap, and it may empty a tiny sample
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
hwm = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:')) / 2**20
print('RESULT ' + json.dumps({'wall_s': round(wall, 2), 'cpu_s': round(cpu, 2), 'read_cpu_s': {u: round(v, 2) for u, v in reads.items()}, 'peak_rss_gb': round(hwm, 3), 'package': d.__file__,
                              'stream_dirs_left': [p.name for p in os.scandir(sys.argv[6]) if p.name.startswith('.stream')]}))
'''


def make_category(root: Path, category: str, rows: int, seed: int) -> dict:
    "Write (once) a category of `rows` reviews with realistic ids and line lengths; {kind: path}."
    import numpy as np, pandas as pd
    from hybrid_recommender.data import synthetic_reviews
    from hybrid_recommender.hub import write_category
    mark = root / f'.done_{category}_{rows}_{seed}'
    paths = {'raw': root / f'raw/review_categories/{category}.jsonl', 'meta': root / f'raw/meta_categories/meta_{category}.jsonl',
             'csv': root / f'benchmark/0core/rating_only/{category}.csv'}
    if mark.exists(): return paths
    t0 = time.time(); rv, it = synthetic_reviews(rows, seed=seed)
    uid = pd.Series(rv.user_id.unique()); asin = pd.Series(it.parent_asin)
    rng = np.random.default_rng(seed); abc = np.array(list('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'))
    code = lambda n, k, p: pd.Series([p + ''.join(x) for x in abc[rng.integers(0, 32, (n, k))]])
    umap = dict(zip(uid, code(len(uid), 26, 'AE'))); amap = dict(zip(asin, code(len(asin), 8, 'B0')))
    rv['user_id'], rv['parent_asin'], it['parent_asin'] = rv.user_id.map(umap), rv.parent_asin.map(amap), it.parent_asin.map(amap)
    filler = ' '.join(['Compatible with most devices and easy to set up; see the manual for details.'] * 26)
    it['description'] = [list(d or []) + [filler] for d in it.description]        # real meta lines average ~3.3 KB
    write_category(root, category, rv, it, seed=seed); mark.touch()
    print(f'wrote {category}: {rows:,} reviews, {len(it):,} items in {time.time() - t0:.0f} s', flush=True)
    return paths


def run_side(side: str, pkg: str, hub, category: str, scale_n: int, seed: int) -> dict:
    "One side's load_data in a fresh process against the hub: its measurements + bytes served per file."
    out = Path(tempfile.mkdtemp(prefix=f'hubdata_{side}_', dir=BENCH_OUT))
    env = {k: v for k, v in os.environ.items() if k not in ('HF_HUB_OFFLINE', 'HF_DATASETS_OFFLINE')}
    env |= {'HF_ENDPOINT': hub.endpoint, 'HF_UPDATE_DOWNLOAD_COUNTS': '0', 'HF_HUB_DISABLE_TELEMETRY': '1', 'HR_PROGRESS': '1',
            'HF_HOME': str(BENCH_OUT / f'hf_home_{side}')}
    hub.bytes_served.clear()
    with LoadMeter() as lm:
        p = subprocess.run([sys.executable, '-c', CHILD, pkg, side, category, str(scale_n), str(seed), str(out)], env=env,
                           capture_output=True, text=True)
    if p.returncode: raise RuntimeError(f'{side} failed:\n{p.stderr[-3000:]}')
    r = json.loads(next(l for l in p.stdout.splitlines() if l.startswith('RESULT '))[7:])
    served = dict(hub.bytes_served); tot = sum(served.values())
    import pandas as pd
    rev = pd.read_parquet(out / f'sampled_reviews_{scale_n}.parquet')
    return r | {'side': side, 'bytes_served': served, 'gb_served': round(tot / 1e9, 3), 'mb_per_s': round(tot / 1e6 / r['wall_s'], 1),
                'cpu_s_per_gb': round(r['cpu_s'] / max(tot / 1e9, 1e-9), 2), 'rows': len(rev), 'users': int(rev.user_id.nunique()),
                'out_dir': str(out), 'other_cores_busy': lm.result['other_cores_busy'], '_rev': rev}


def parse_engines(csv: Path, scale_n: int, seed: int) -> dict:
    "pyarrow (the package's reader, local file) vs DuckDB read_csv, both keeping the same hash-sampled users of the CSV."
    import duckdb, numpy as np, pyarrow as pa
    from hybrid_recommender.data import sample_reviews, user_hash, _hash_cut, _rows_estimate
    size, n_est, _ = _rows_estimate(str(csv)); cut = _hash_cut(1.3 * scale_n / n_est); out = {}
    t0, c0 = time.perf_counter(), time.process_time()
    a = sample_reviews(str(csv), scale_n, seed)
    out['pyarrow'] = {'wall_s': round(time.perf_counter() - t0, 2), 'cpu_s': round(time.process_time() - c0, 2), 'rows': len(a)}
    t0, c0 = time.perf_counter(), time.process_time()
    con = duckdb.connect(); rd = con.sql(f"SELECT * FROM read_csv('{csv}', header=true, types={{'user_id': 'VARCHAR', 'parent_asin': 'VARCHAR', "
                                         f"'rating': 'DOUBLE', 'timestamp': 'BIGINT'}})").fetch_record_batch(1_000_000)
    keep = [b.filter(pa.array(user_hash(b.column('user_id').to_pandas(), seed) <= cut)) for b in rd]
    n = sum(k.num_rows for k in keep)
    out['duckdb'] = {'wall_s': round(time.perf_counter() - t0, 2), 'cpu_s': round(time.process_time() - c0, 2), 'rows': n}
    out['same_rows'] = n == len(a); out['csv_mb'] = round(size / 1e6, 1)
    for k in ('pyarrow', 'duckdb'): out[k]['mb_per_s'] = round(size / 1e6 / out[k]['wall_s'], 1)
    return out


def extrapolate(before: dict, after: dict, files: dict, root: Path) -> dict:
    "Electronics at SCALE_N=200000 from the published sizes and each side's measured CPU per GB of each file."
    gb = {k: p.stat().st_size / 1e9 for k, p in files.items()}
    rel = {k: p.relative_to(root).as_posix() for k, p in files.items()}
    reads = {s['side']: {k: round(s['bytes_served'].get(rel[k], 0) / 1e9 / gb[k], 2) for k in files} for s in (before, after)}   # passes over each file
    e = ELECTRONICS; pub = {'raw': e['raw_gb'], 'csv': e['csv_gb'], 'meta': e['meta_gb']}
    def cpu(side):
        "Read CPU per GB of each file (from the side's own timing of its readers) times the GB it would read of Electronics, plus the rest."
        per = {}
        for url, c in side['read_cpu_s'].items():
            k = next(k for k in files if url.endswith(rel[k])); per[k] = per.get(k, 0) + c
        read = sum(c / max(side['bytes_served'].get(rel[k], 0) / 1e9, 1e-9) * reads[side['side']][k] * pub[k]
                   for k, c in per.items() if side['bytes_served'].get(rel[k]))
        return read, side['cpu_s'] - sum(per.values())
    b_gb = reads['before']['raw'] * e['raw_gb'] + reads['before']['meta'] * e['meta_gb']
    a_gb = reads['after']['csv'] * e['csv_gb'] + reads['after']['meta'] * e['meta_gb'] + reads['after']['raw'] * e['raw_gb']
    (rb, ob), (ra, oa) = cpu(before), cpu(after)
    return {'passes_per_file': reads, 'electronics_gb_read': {'before': round(b_gb, 2), 'after': round(a_gb, 2)},
            'electronics_read_cpu_min': {'before': round(rb / 60, 2), 'after': round(ra / 60, 2)},
            'rest_cpu_s_at_bench_scale': {'before': round(ob, 2), 'after': round(oa, 2)},
            'electronics_wall_min_at_measured_rate': {'before': round(b_gb * 1e3 / before['mb_per_s'] / 60, 1),
                                                      'after': round(a_gb * 1e3 / after['mb_per_s'] / 60, 1)},
            'note': "read CPU per GB of each file, measured per side on this machine, times the GB it would read of Electronics (each "
                    "file's passes included); 'rest' = the side's CPU outside its readers (imports, cleaning, split, caches) at the bench's SCALE_N"}


def slopes(big: dict, small: dict, fb: dict, fs: dict, root: Path) -> dict:
    "After side: read CPU = fixed + slope x GB per file, from two category sizes; Electronics = slopes x published sizes + fixed."
    def per(side, files):
        rel = {k: p.relative_to(root).as_posix() for k, p in files.items()}
        cpu = {k: sum(c for u, c in side['read_cpu_s'].items() if u.endswith(rel[k])) for k in files}
        return {k: (side['bytes_served'].get(rel[k], 0) / 1e9, cpu[k]) for k in files if side['bytes_served'].get(rel[k])}
    pb, ps = per(big, fb), per(small, fs); out = {}
    for k in pb:
        (g1, c1), (g0, c0) = pb[k], ps[k]; b = (c1 - c0) / max(g1 - g0, 1e-9); out[k] = {'cpu_s_per_gb': round(b, 2), 'fixed_cpu_s': round(c1 - b * g1, 2)}
    pub = {'csv': ELECTRONICS['csv_gb'], 'meta': ELECTRONICS['meta_gb'], 'raw': ELECTRONICS['raw_gb']}
    out['electronics_read_cpu_s'] = round(sum(v['cpu_s_per_gb'] * pub[k] + v['fixed_cpu_s'] for k, v in out.items()), 1)
    return out


def rest_at(n: int, seed: int) -> dict:
    "CPU of what load_data does after the reads (clean, sample, k-core, split, encode, item text) on n synthetic rows."
    from hybrid_recommender.data import synthetic_reviews, clean_reviews, sample_users, prepare
    rv, it = synthetic_reviews(n, seed=seed); c = time.process_time()
    prepare(sample_users(clean_reviews(rv)[0], n, seed)[0], it, None, seed=seed)
    return {'rows': n, 'cpu_s': round(time.process_time() - c, 2)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--before', default='fbefb67', help='git ref of the "before" package (default: main before #24)')
    ap.add_argument('--category', default='Appliances', help='an Amazon 2023 category name; rows default to its published count')
    ap.add_argument('--rows', type=int, default=None); ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--scale-n', type=int, default=None, help='default: the same share of rows as 200k of Electronics')
    a = ap.parse_args()
    from hybrid_recommender.hub import HF_REVIEW_COUNTS, LoopbackHub
    rows = a.rows or HF_REVIEW_COUNTS[a.category]; scale_n = a.scale_n or max(2_000, round(rows * 200_000 / ELECTRONICS['rows']))
    BENCH_OUT.mkdir(parents=True, exist_ok=True); m = machine(); print(machine_line(m), flush=True)
    root = BENCH_OUT / 'hub_repo'; files = make_category(root, a.category, rows, a.seed)
    sizes = {k: p.stat().st_size for k, p in files.items()}
    print('files:', {k: f'{v / 1e6:.0f} MB' for k, v in sizes.items()}, f'| SCALE_N={scale_n:,}', flush=True)
    pkg = Path(tempfile.mkdtemp(prefix='pkg_before_', dir=BENCH_OUT))
    subprocess.run(f'git -C {REPO} archive {a.before} hybrid_recommender | tar -x -C {pkg}', shell=True, check=True)
    small = make_category(root, f'{a.category}_quarter', rows // 4, a.seed + 1)          # a second size: per-GB slopes apart from fixed costs
    with LoopbackHub(root) as hub:
        res = {s: run_side(s, p, hub, a.category, scale_n, a.seed) for s, p in (('before', str(pkg)), ('after', ''))}
        res_small = run_side('after', '', hub, f'{a.category}_quarter', max(500, scale_n // 4), a.seed); res_small.pop('_rev')
    rb, ra = res['before'].pop('_rev'), res['after'].pop('_rev')
    same_users = set(rb.user_id) == set(ra.user_id)
    import pandas as pd
    same_rows = same_users and rb.sort_values(['user_id', 'parent_asin']).reset_index(drop=True)[['user_id', 'parent_asin', 'rating']].equals(
        ra.sort_values(['user_id', 'parent_asin']).reset_index(drop=True)[['user_id', 'parent_asin', 'rating']])
    eng = parse_engines(files['csv'], scale_n, a.seed)
    ext = extrapolate(res['before'], res['after'], files, root); ext['rest_cpu_s_at_200k'] = rest_at(200_000, a.seed)
    ext['after_slopes'] = slopes(res['after'], res_small, files, small, root)
    out = {'date': time.strftime('%Y-%m-%d %H:%M'), 'machine': m, 'category': a.category, 'rows': rows, 'scale_n': scale_n,
           'file_bytes': sizes, 'before_ref': a.before, 'sides': res, 'after_quarter': res_small, 'same_users': same_users, 'same_rows': same_rows,
           'parse_engines': eng, 'extrapolation': ext}
    write_json(RESULTS / 'hub_data.json', out)
    b, f = res['before'], res['after']
    md = [f"# Data stage over a loopback hub, before ({a.before}) vs after ({out['date']})", '', machine_line(m), '',
          f"{a.category}-sized category: {rows:,} reviews; review JSON {sizes['raw'] / 1e9:.2f} GB, CSV {sizes['csv'] / 1e9:.3f} GB, "
          f"meta {sizes['meta'] / 1e9:.3f} GB; SCALE_N={scale_n:,} (the share of rows that 200k is of Electronics), seed {a.seed}.", '',
          '| | before | after |', '|---|---|---|',
          *[f"| {lab} | {fmt(b)} | {fmt(f)} |" for lab, fmt in [
              ('wall s', lambda s: s['wall_s']), ('CPU s', lambda s: s['cpu_s']), ('GB served', lambda s: s['gb_served']),
              ('MB/s served', lambda s: s['mb_per_s']), ('CPU s per GB', lambda s: s['cpu_s_per_gb']), ('peak RSS GB', lambda s: s['peak_rss_gb']),
              ('passes over review JSON / CSV / meta', lambda s: ' / '.join(str(ext['passes_per_file'][s['side']][k]) for k in ('raw', 'csv', 'meta'))),
              ('sampled rows / users', lambda s: f"{s['rows']:,} / {s['users']:,}"), ('`.stream_*` left', lambda s: s['stream_dirs_left'] or 'none'),
              ('other cores busy', lambda s: s['other_cores_busy'])]],
          '', f"Same sampled users: **{same_users}**; same rows (user, item, rating): **{same_rows}**.", '',
          f"CSV parse + user-hash filter, local file ({eng['csv_mb']} MB): pyarrow {eng['pyarrow']['wall_s']} s wall / {eng['pyarrow']['cpu_s']} s CPU "
          f"({eng['pyarrow']['mb_per_s']} MB/s), DuckDB {eng['duckdb']['wall_s']} s / {eng['duckdb']['cpu_s']} s ({eng['duckdb']['mb_per_s']} MB/s); same rows: {eng['same_rows']}.", '',
          f"**Electronics, SCALE_N=200000** (published sizes: review JSON 22.62 GB, CSV 2.52 GB, meta 5.25 GB): bytes read from the hub "
          f"{ext['electronics_gb_read']['before']} GB → **{ext['electronics_gb_read']['after']} GB**; CPU of the reads "
          f"{ext['electronics_read_cpu_min']['before']} → **{ext['electronics_read_cpu_min']['after']} min** on this machine (each file's measured CPU per GB "
          f"× its published size × passes), plus the rest of the stage (cleaning, split, encoding: {ext['rest_cpu_s_at_200k']['cpu_s']} s at 200k rows, "
          f"the same before and after). Fitted on two sizes (this one and a quarter of it), the after side's reads cost "
          f"{ext['after_slopes']['csv']['cpu_s_per_gb']} CPU s/GB (CSV) and {ext['after_slopes']['meta']['cpu_s_per_gb']} s/GB (meta) plus "
          f"{ext['after_slopes']['csv']['fixed_cpu_s'] + ext['after_slopes']['meta']['fixed_cpu_s']:.2f} s fixed: Electronics' reads "
          f"**{ext['after_slopes']['electronics_read_cpu_s']} CPU s**, the whole data stage ≈ "
          f"**{ext['after_slopes']['electronics_read_cpu_s'] + ext['rest_cpu_s_at_200k']['cpu_s']:.0f} CPU s**. At the rate served here {ext['electronics_wall_min_at_measured_rate']['before']} → "
          f"{ext['electronics_wall_min_at_measured_rate']['after']} min wall (the hub's bandwidth may be lower)."]
    (RESULTS / 'hub_data.md').write_text('\n'.join(md) + '\n'); print('\n'.join(md))


if __name__ == '__main__':
    main()
