"""Wall time of re-executing every notebook, as `pytest notebooks/` does: one fresh kernel per
notebook, one after the other, against the bundled mock, the browser step done unattended.

    .venv/bin/python benchmarks/notebooks.py

Target: under 60 s in total on a 2-core machine. Prints one line per notebook and the total;
exits 1 if a notebook fails. Nothing is written back to the notebooks.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
TARGET_SECONDS = 60


def mock_port_in_use(port: int = 4000) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def main() -> int:
    # The same environment tests/nbval_kernels.py gives nbval's kernels.
    os.environ.update({"KIT_AUTOLOGIN": "1", "KIT_ENV_FILE": os.devnull})
    for name in ("AUTHGEAR_ENDPOINT", "AUTHGEAR_CLIENT_ID", "AUTHGEAR_CLIENT_SECRET", "AUTHGEAR_REDIRECT_URL",
                 "KIT_PASTE_BACK"):
        os.environ.pop(name, None)
    if mock_port_in_use():
        print("Note: a mock already answers on port 4000, so the kernels use it instead of starting their own.")

    print(f"Re-executing {len(NOTEBOOKS)} notebooks on {os.cpu_count()} cores")
    failed = False
    start = time.perf_counter()
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        cells = sum(cell.cell_type == "code" for cell in notebook.cells)
        began = time.perf_counter()
        try:
            NotebookClient(notebook, timeout=60, kernel_name="python3",
                           resources={"metadata": {"path": str(path.parent)}}).execute()
            status = "ok"
        except CellExecutionError as error:
            status = "FAILED: " + str(error).strip().splitlines()[-1][:120]
            failed = True
        print(f"  {path.name:42} {cells:3} code cells  {time.perf_counter() - began:6.1f} s  {status}")
    total = time.perf_counter() - start
    verdict = "within" if total < TARGET_SECONDS else "OVER"
    print(f"notebooks: all {len(NOTEBOOKS)} re-executed in {total:.1f} s wall time "
          f"({verdict} the {TARGET_SECONDS} s target)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
