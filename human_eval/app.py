"""Streamlit entry point: ``streamlit run human_eval/app.py -- --db URL``.

(or ``python -m human_eval.serve --db URL``). Pages and logic live in ``human_eval.ui``.
"""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:  # `streamlit run` puts only this file's folder on the path
    sys.path.insert(0, _ROOT)

from human_eval.ui.main import main  # noqa: E402

main()
