#!/usr/bin/env python
"""Glue share and hotspots from a `py-spy record --native --format raw` profile of a job run.

    python bench/glue.py /tmp/bench_out/profiles/pyspy_200000_cold.txt [--md bench/results/profile_200000_cold.md]

Every sample's deepest frame decides where the time went:
- **library**: native code or Python wrappers of numpy, scipy, BLAS, FAISS, implicit, LightGBM, torch, tokenizers,
  transformers/sentence-transformers, scikit-learn, pyarrow, onnxruntime, matplotlib;
- **pandas**: pandas (its Python and its Cython);
- **package Python**: the interpreter running hybrid_recommender code itself (loops, comprehensions, dict work);
- **other Python**: stdlib, imports, gc, json, fastcore ...
Glue = pandas + package Python + other Python. Samples are of Python threads only (OpenMP/BLAS worker threads are
not sampled), minus samples blocked in a wait (lock, sleep, condition) and the bench's RSS-sampling threads, so shares
are of the main thread's busy time.
"""
from __future__ import annotations
import argparse, re, sys
from collections import Counter, defaultdict
from pathlib import Path

LIBS = ['numpy', 'scipy', 'openblas', 'libgomp', 'libomp', 'faiss', 'implicit', 'lightgbm', 'lib_lightgbm', 'torch', 'libtorch',
        'tokenizers', 'transformers', 'sentence_transformers', 'sklearn', 'pyarrow', 'libarrow', 'onnxruntime', 'matplotlib',
        'joblib', 'threadpoolctl', 'safetensors', 'mkl', 'libstdc++', 'libm.so', 'libgfortran', 'libblas', 'liblapack']
STAGES = ['data', 'embeddings', 'tuning', 'mf', 'candidates', 'ltr', 'evaluate', 'manifest']
WAITS = {'lock_PyThread_acquire_lock', 'PyThread_acquire_lock_timed', 'time_sleep', 'pthread_cond_timedwait', 'pthread_cond_wait',
         'clock_nanosleep', 'sem_timedwait', 'sem_wait'}            # a helper thread (or the main one) blocked, not working
FRAME = re.compile(r'^(?P<fn>.*) \((?P<loc>[^()]*)\)$')


def parse(path):
    "Yield (frames, count) with frames root -> leaf as (function, location)."
    for line in Path(path).read_text(errors='replace').splitlines():
        stack, _, n = line.rpartition(' ')
        if not stack or not n.isdigit(): continue
        fr = []
        for f in stack.split(';'):
            m = FRAME.match(f); fr.append((m['fn'], m['loc']) if m else (f, ''))
        yield fr, int(n)


def kind(loc: str) -> str:
    l = loc.lower()
    if 'hybrid_recommender/' in l: return 'package'
    if l.startswith('pandas/') or '/pandas/' in l: return 'pandas'
    if any(k in l for k in LIBS): return 'library'
    if l.endswith('.py') or '.py:' in l or l.startswith('<frozen'): return 'python'
    return 'native-other'       # libpython, libc: decided by the Python frame above


def classify(frames) -> str:
    for fn, loc in reversed(frames):
        k = kind(loc)
        if k != 'native-other': return k
    return 'python'


def stage_of(frames) -> str:
    for fn, loc in frames:
        if 'hybrid_recommender/eval.py' in loc and fn.split('.')[-1] in STAGES: return fn.split('.')[-1]
    return 'startup/other'


def analyse(path, top=15) -> dict:
    tot, by_kind, by_stage = 0, Counter(), defaultdict(Counter)
    glue_fn, glue_line, pkg_incl = Counter(), Counter(), Counter()
    for frames, n in parse(path):
        if any(fn.endswith(('._watch', '.watch')) or fn in WAITS for fn, _ in frames): continue   # RSS samplers / blocked waits: not work
        k, s = classify(frames), stage_of(frames)
        tot += n; by_kind[k] += n; by_stage[s][k] += n
        # innermost package frame: the line of our code responsible for this sample
        pk = [(fn, loc) for fn, loc in frames if 'hybrid_recommender/' in loc]
        if pk: pkg_incl[f'{pk[-1][0]} ({pk[-1][1]})'] += n
        if k in ('pandas', 'package', 'python') and pk:
            glue_line[f'{pk[-1][0]} ({pk[-1][1]}) [{k}]'] += n
            glue_fn[pk[-1][0]] += n
    return {'total': tot, 'by_kind': by_kind, 'by_stage': by_stage, 'glue_fn': glue_fn.most_common(top),
            'glue_line': glue_line.most_common(top), 'pkg_line': pkg_incl.most_common(top)}


def to_md(a: dict, rate: float, title: str) -> str:
    T = a['total']; pct = lambda x: f'{100 * x / max(T, 1):.1f}%'
    glue = sum(a['by_kind'][k] for k in ('pandas', 'package', 'python'))
    L = [f'# Profile: {title}', '', f'{T:,} samples at {rate:g} Hz ≈ {T / rate:,.0f} s of main-thread time. '
         f'**Glue (pandas + package Python + other Python) = {pct(glue)}**; library = {pct(a["by_kind"]["library"])}.', '',
         '| where | samples | share |', '|---|---|---|']
    for k in ('library', 'pandas', 'package', 'python'): L.append(f'| {k} | {a["by_kind"][k]:,} | {pct(a["by_kind"][k])} |')
    L += ['', '## By stage', '', '| stage | seconds | library | pandas | package Python | other Python | glue share of stage |', '|---|---|---|---|---|---|---|']
    for s in STAGES + ['startup/other']:
        c = a['by_stage'].get(s)
        if not c: continue
        n = sum(c.values()); g = c['pandas'] + c['package'] + c['python']
        L.append(f"| {s} | {n / rate:,.1f} | {c['library'] / rate:,.1f} | {c['pandas'] / rate:,.1f} | {c['package'] / rate:,.1f} | {c['python'] / rate:,.1f} | {100 * g / n:.0f}% |")
    L += ['', '## Top glue lines (innermost package line under which pandas/Python time was spent)', '', '| line | seconds | share of run |', '|---|---|---|']
    for k, n in a['glue_line']: L.append(f'| `{k}` | {n / rate:,.1f} | {pct(n)} |')
    L += ['', '## Top package lines, all time below them (library included)', '', '| line | seconds | share of run |', '|---|---|---|']
    for k, n in a['pkg_line']: L.append(f'| `{k}` | {n / rate:,.1f} | {pct(n)} |')
    return '\n'.join(L) + '\n'


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('profile'); ap.add_argument('--rate', type=float, default=25.0, help='py-spy sampling rate used (Hz)')
    ap.add_argument('--md', help='write the markdown here (default: print)'); ap.add_argument('--top', type=int, default=15)
    a = ap.parse_args()
    md = to_md(analyse(a.profile, a.top), a.rate, Path(a.profile).name)
    if a.md: Path(a.md).write_text(md)
    print(md)


if __name__ == '__main__':
    main()
