"""`jepa-edge doctor`: which backends and devices are usable here, with versions.

Each inference backend (torch, ONNX Runtime, OpenVINO, TensorRT) is listed with its version, or with
the `pip install 'jepa-edge[EXTRA]'` that adds it; then the GPUs (with compute capability), the CPU's
precision-relevant ISA (AVX2, AVX-512 F/VNNI/BF16, AVX-VNNI, AMX; dotprod/i8mm/bf16/SVE on ARM),
OpenVINO's OPTIMIZATION_CAPABILITIES, on a Jetson its power mode and clocks, and which precisions pay
off here and why. `--json -` prints the same as JSON.
"""
from __future__ import annotations

from jepa_edge.cli import _output
from jepa_edge.utils.device_info import BACKENDS, describe


def add_arguments(p):
    _output.add_json_flag(p, "the machine and backend description")


def run(args) -> int:
    from jepa_edge.utils.device_info import isa_tag, precision_advice

    info = describe()
    info["isa_tag"] = isa_tag(info["isa"])
    info["precision_advice"] = precision_advice(info["isa"], info["openvino_capabilities"], info["nvidia"])
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
    nv = ", ".join(f"{g['name']} (compute {g['compute_capability']})" for g in info["nvidia"])
    table.add_row("cuda", nv or ", ".join(info["gpus"]) or "-", "ok" if nv or info["gpus"] else "no GPU (CPU only)")
    console = _output.results_console(args)
    console.print(table)
    console.print(f"ISA ({info['isa_tag']}): {', '.join(info['isa']) or 'none of the precision-relevant flags'}")
    console.print(f"OpenVINO OPTIMIZATION_CAPABILITIES: {', '.join(info['openvino_capabilities']) or '- (no OpenVINO)'}")
    if "jetson" in info:
        j = info["jetson"]
        console.print(escape(f"Jetson: {j.get('l4t', '')}; nvpmodel: {j.get('nvpmodel') or 'not readable'}; "
                             f"jetson_clocks: {j.get('jetson_clocks') or 'not readable (needs root)'}"))
        for line in j.get("tegrastats", [])[:2]:
            console.print(escape(f"  tegrastats: {line}"))
    adv = Table(title="which precisions pay off here")
    for col in ("device", "precision", "pays", "why"):
        adv.add_column(col, no_wrap=col != "why")
    for r in info["precision_advice"]:
        adv.add_row(escape(r["device"]), r["precision"], r["pays"], escape(r["why"]))
    console.print(adv)
    console.print("measure, do not guess: `jepa-edge export MODEL --precision auto ...` times the candidates here")
    return 0
