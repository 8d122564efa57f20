"""Sub-stage breakdown: wrap the package's main functions to record calls, wall seconds and peak RSS (used by scale.py --breakdown).

Times are inclusive (a wrapped function called inside another is counted in both). RSS is sampled every 20 ms.
"""
from __future__ import annotations
import functools, threading, time, sys

FUNCS = {
    'data': ['load_data', 'synthetic_reviews', 'clean_reviews', 'sample_users', 'code_reviews', 'prepare_codes', 'duckdb_codes', 'item_text'],
    'embeddings': ['embed_items', 'st_embed', 'encode_texts', 'load_encoder', 'build_index', 'save_index', 'user_profiles'],
    'mf': ['fit_mf', 'fit_als', 'confidence_matrix'],
    'candidates': ['fit_sources', 'generate_candidates', 'union_candidates', 'allocate_budget', 'recall_curve', 'pool_recall',
                   'add_features', 'label_candidates', 'sample_training', 'extra_folds', 'gather_scores', 'user_features', 'search_unseen',
                   'topk_blocked', 'fit_itemknn', 'fit_ease', 'fit_popularity'],
    'ltr': ['train_reranker', 'tune_reranker', 'save_reranker', 'importance'],
    'evaluate': ['rerank', 'recs_from_frame', 'rrf_scores', 'tune_and_test', 'evaluate', 'topk_metrics', 'per_user_metrics',
                 'paired_bootstrap', 'plot_metrics', 'save_fig', 'to_csr'],
}


class Breakdown:
    def __init__(self, every: float = 0.02):
        import psutil
        self.proc, self.every, self.stats, self.active, self._stop = psutil.Process(), every, {}, {}, threading.Event()
    def _watch(self):
        while not self._stop.wait(self.every):
            r = self.proc.memory_info().rss
            for c in list(self.active.values()): c[0] = max(c[0], r)
    def _wrap(self, name, f):
        @functools.wraps(f)
        def w(*a, **k):
            cell = [self.proc.memory_info().rss]; self.active[id(cell)] = cell; t0 = time.perf_counter()
            try: return f(*a, **k)
            finally:
                dt = time.perf_counter() - t0; self.active.pop(id(cell), None)
                s = self.stats.setdefault(name, {'calls': 0, 'seconds': 0.0, 'peak_rss_gb': 0.0})
                s['calls'] += 1; s['seconds'] += dt; s['peak_rss_gb'] = max(s['peak_rss_gb'], cell[0] / 2**30)
        w.__wrapped_by_bench__ = True
        return w
    def install(self):
        "Patch every hybrid_recommender module attribute named in FUNCS (all modules, so cross-module imports are covered)."
        import importlib
        mods = [importlib.import_module(f'hybrid_recommender.{m}') for m in ('data', 'embeddings', 'mf', 'candidates', 'ltr', 'eval')]
        names = {n for v in FUNCS.values() for n in v}; wrapped = {}
        for m in mods:
            for n in names:
                f = getattr(m, n, None)
                if callable(f) and not getattr(f, '__wrapped_by_bench__', False):
                    key = f'{f.__module__.split(".")[-1]}.{n}'
                    if id(f) not in wrapped: wrapped[id(f)] = self._wrap(key, f)
                    setattr(m, n, wrapped[id(f)])
        threading.Thread(target=self._watch, daemon=True).start()
        return self
    def result(self) -> dict:
        self._stop.set()
        return {k: {**v, 'seconds': round(v['seconds'], 2), 'peak_rss_gb': round(v['peak_rss_gb'], 2)}
                for k, v in sorted(self.stats.items(), key=lambda kv: -kv[1]['seconds'])}
