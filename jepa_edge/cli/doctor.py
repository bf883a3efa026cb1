"""`jepa-edge doctor`: which backends and devices are usable here, with versions."""
from __future__ import annotations

import json

from jepa_edge.utils.device_info import BACKENDS, describe


def add_arguments(p):
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")


def run(args) -> int:
    info = describe()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    from rich.console import Console
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
    Console().print(table)
    return 0
