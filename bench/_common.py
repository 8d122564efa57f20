"""Helpers shared by the bench scripts: machine description, load sampling, result files."""
from __future__ import annotations
import json, os, platform, subprocess, time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / 'results'
REPO = BENCH.parent


def offline_env():
    "Never touch the network: the Hugging Face hub and datasets stay offline."
    os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('HF_DATASETS_OFFLINE', '1')
    os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')


def _cpu_model() -> str:
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'): return line.split(':', 1)[1].strip()
    except OSError: pass
    return platform.processor() or '?'


def _gpu() -> str:
    try:
        out = subprocess.run(['nvidia-smi', '--query-gpu=name,memory.total', '--format=csv,noheader'], capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip(): return out.stdout.strip().replace('\n', '; ')
    except (OSError, subprocess.TimeoutExpired): pass
    return 'none'


def machine() -> dict:
    "Cores, RAM, CPU model, GPU, OS, Python and library versions of this machine."
    import psutil
    from importlib.metadata import version, PackageNotFoundError
    libs = {}
    for p in ['hybrid_recommender', 'numpy', 'pandas', 'scipy', 'scikit-learn', 'faiss-cpu', 'implicit', 'lightgbm', 'torch',
              'sentence-transformers', 'transformers', 'onnxruntime']:
        try: libs[p] = version(p)
        except PackageNotFoundError: pass
    return {'hostname': platform.node(), 'cpu': _cpu_model(), 'logical_cores': os.cpu_count(),
            'physical_cores': psutil.cpu_count(logical=False), 'affinity_cores': len(os.sched_getaffinity(0)),
            'ram_gb': round(psutil.virtual_memory().total / 2**30, 1), 'gpu': _gpu(), 'platform': platform.platform(),
            'python': platform.python_version(), 'libs': libs}


def machine_line(m: dict) -> str:
    return (f"machine: {m['cpu']} | {m['affinity_cores']} cores usable ({m['logical_cores']} logical) | "
            f"{m['ram_gb']} GB RAM | GPU: {m['gpu']} | {m['platform']} | Python {m['python']}")


class LoadMeter:
    "System-wide CPU use by *other* processes while a block runs (cores busy outside this process tree)."
    def __enter__(self):
        import psutil
        self.t0, self.sys0, self.me0 = time.perf_counter(), psutil.cpu_times(), self._mine()
        self.load0 = os.getloadavg(); return self
    @staticmethod
    def _mine() -> float:
        import psutil
        p = psutil.Process(); t = p.cpu_times()
        return t.user + t.system + t.children_user + t.children_system
    def __exit__(self, *exc):
        import psutil
        s1, wall = psutil.cpu_times(), time.perf_counter() - self.t0
        busy = lambda s: s.user + s.nice + s.system + getattr(s, 'irq', 0) + getattr(s, 'softirq', 0) + getattr(s, 'steal', 0)
        mine = self._mine() - self.me0; total = busy(s1) - busy(self.sys0)
        self.result = {'wall_s': round(wall, 2), 'cpu_s_self': round(mine, 2), 'cpu_s_all': round(total, 2),
                       'other_cores_busy': round(max(total - mine, 0) / max(wall, 1e-9), 2),
                       'loadavg_start': [round(x, 2) for x in self.load0], 'loadavg_end': [round(x, 2) for x in os.getloadavg()],
                       'uptime': subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}


def code_version(pkg_dir: Path | None = None) -> dict:
    "git HEAD, whether the package has uncommitted changes, and a hash of the package sources (`pkg_dir`: default the checkout's)."
    import hashlib
    h = hashlib.sha1(); pkg_dir = Path(pkg_dir or REPO / 'hybrid_recommender')
    for p in sorted(pkg_dir.glob('*.py')): h.update(p.name.encode()); h.update(p.read_bytes())
    git = lambda *a: subprocess.run(['git', '-C', str(REPO), *a], capture_output=True, text=True).stdout.strip()
    return {'git_head': git('rev-parse', '--short', 'HEAD'), 'package_dirty': bool(git('status', '--porcelain', 'hybrid_recommender')),
            'package_sha1': h.hexdigest()[:12], 'package_dir': str(pkg_dir)}


def write_json(path: Path, obj) -> Path:
    "Write JSON atomically (temp file + rename)."
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + '.tmp')
    tmp.write_text(json.dumps(obj, indent=1, default=str)); os.replace(tmp, path)
    return path


def fit_exponent(x, y) -> float:
    "Least-squares slope of log(y) on log(x) (NaN with fewer than two usable points)."
    import numpy as np
    x, y = np.asarray(x, float), np.asarray(y, float); ok = (x > 0) & (y > 0) & np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 2: return float('nan')
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])


def _vmhwm_gb() -> float:
    """This process's peak RSS in GB from /proc/self/status VmHWM (the high-water mark of its own memory map).

    Not `ru_maxrss`: Linux records the parent's RSS at fork into a child's ru_maxrss when the child execs, so a Dask
    worker or a benchmark subprocess started by a large process would report at least that process's size."""
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'): return int(line.split()[1]) / 2**20
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
