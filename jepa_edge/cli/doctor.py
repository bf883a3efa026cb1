"""`jepa-edge doctor`: which backends and devices are usable here, with versions.

Each inference backend (torch, ONNX Runtime, OpenVINO, TensorRT) is listed with its version, or with
the `pip install 'jepa-edge[EXTRA]'` that adds it; then the GPUs. `--json -` prints the same as JSON.
"""
from __future__ import annotations

from jepa_edge.cli import _output
from jepa_edge.utils.device_info import BACKENDS, describe


def add_arguments(p):
    _output.add_json_flag(p, "the machine and backend description")


def run(args) -> int:
    info = describe()
    _output.write_json(args, info)
    if _output.json_to_stdout(args):
        return 0
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"jepa-edge doctor: {info['cpu']} ({info['cores']} cores)")
    table.add_column("backend")
    table.add_column("version")
    table.add_column("status")
    for name, (_, extra) in BACKENDS.items():
        v = info["versions"].get(name)
        status = "ok" if v else (f"missing: pip install 'jepa-edge[{extra}]'" if extra else "missing")
        table.add_row(name, v or "-", escape(status))
    table.add_row("cuda", ", ".join(info["gpus"]) or "-", "ok" if info["gpus"] else "no GPU (CPU only)")
    _output.results_console(args).print(table)
    return 0
