"""Render nbs/index.ipynb to README.md without Quarto (which nbdev_readme needs and which can't be installed here).

Markdown cells are copied; code cells become ```python blocks (cells marked `#| hide` are skipped), followed by
their text/plain or stream output, if any. `--check` exits 1 when README.md is out of date (CI runs it)."""
import sys, json
from pathlib import Path

def render(nb_path: Path) -> str:
    nb = json.loads(nb_path.read_text())
    out = []
    for c in nb['cells']:
        src = ''.join(c['source']).rstrip()
        if c['cell_type'] == 'markdown': out.append(src); continue
        if src.startswith('#| hide') or not src: continue
        lines = [l for l in src.split('\n') if not l.startswith('#|')]
        out.append('```python\n' + '\n'.join(lines) + '\n```')
        for o in c.get('outputs', []):
            txt = o.get('text') or o.get('data', {}).get('text/plain')
            if txt: out.append('```\n' + ''.join(txt).rstrip() + '\n```')
    return '<!-- generated from nbs/index.ipynb by tools/nb2readme.py: edit the notebook, not this file -->\n\n' + '\n\n'.join(out) + '\n'

if __name__ == '__main__':
    root = Path(__file__).resolve().parents[1]
    txt = render(root/'nbs'/'index.ipynb')
    if '--check' in sys.argv:
        ok = (root/'README.md').read_text() == txt
        print('README.md is in step with nbs/index.ipynb' if ok else 'README.md is stale: run python tools/nb2readme.py')
        sys.exit(0 if ok else 1)
    (root/'README.md').write_text(txt)
