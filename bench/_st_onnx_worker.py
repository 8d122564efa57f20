"""Worker for embed_backends.py --st-python: sentence-transformers' own ONNX backend (needs optimum-onnx, which pins
transformers < 4.58, so it may have to run in a separate virtualenv). Reads {name: [texts]} JSON, writes <variant>_<name>.npy
and timings.json into the output folder. Only stdlib + sentence-transformers + numpy are imported here."""
import json, shutil, sys, time
from pathlib import Path
import numpy as np


def main(texts_json, model_path, out, repeats=2, threads=0):
    import onnxruntime as ort, torch
    from sentence_transformers import SentenceTransformer, export_dynamic_quantized_onnx_model
    def so():
        o = ort.SessionOptions(); o.intra_op_num_threads = threads or 0; return o
    if threads: torch.set_num_threads(threads)
    out = Path(out); out.mkdir(parents=True, exist_ok=True); texts = json.loads(Path(texts_json).read_text())
    d = out / 'model'
    if not d.exists(): shutil.copytree(model_path, d)
    m32 = SentenceTransformer(str(d), backend='onnx', device='cpu', model_kwargs={'session_options': so()})           # exports model.onnx on first load
    if not (d / 'onnx').exists() or not any((d / 'onnx').glob('model.onnx')): m32.save_pretrained(str(d))
    if not (d / 'onnx' / 'model_qint8_avx512_vnni.onnx').exists(): export_dynamic_quantized_onnx_model(m32, 'avx512_vnni', str(d))
    m8 = SentenceTransformer(str(d), backend='onnx', device='cpu', model_kwargs={'file_name': 'onnx/model_qint8_avx512_vnni.onnx', 'session_options': so()})
    mt = SentenceTransformer(model_path, device='cpu')                          # the torch reference in this same process
    models = {'st-torch': mt, 'st-onnx': m32, 'st-onnx-int8': m8}; times = {v: {} for v in models}
    for m in models.values(): m.max_seq_length = 128; m.encode(texts['throughput'][:64], batch_size=64)
    best = {v: [np.inf, np.inf] for v in models}
    for _ in range(repeats):                                                    # round-robin: load drift hits all alike
        for v, m in models.items():
            t0, c0 = time.perf_counter(), time.process_time(); m.encode(texts['throughput'], batch_size=64)
            best[v] = [min(best[v][0], time.perf_counter() - t0), min(best[v][1], time.process_time() - c0)]
    for v in models: times[v]['throughput'] = best[v]
    for v in ('st-onnx', 'st-onnx-int8'):
        for name, t in texts.items():
            if name == 'throughput': continue
            t0 = time.perf_counter(); e = models[v].encode(t, batch_size=64, convert_to_numpy=True, normalize_embeddings=False)
            np.save(out / f'{v}_{name}.npy', np.asarray(e, np.float32)); times[v][name] = [time.perf_counter() - t0, None]
    (out / 'timings.json').write_text(json.dumps(times))


if __name__ == '__main__':
    main(*sys.argv[1:4], int(sys.argv[4]) if len(sys.argv) > 4 else 2, int(sys.argv[5]) if len(sys.argv) > 5 else 0)
