"""Write the firmware core's flash/RAM report (`make size` runs this after the cross builds).

    python tools/firmware_size.py --build BUILD --out firmware_size.json [--flags "CFLAGS"]

For each image make built (BUILD/core_atmega328p.elf, BUILD/core_cortex_m0.elf; a target whose
compiler is missing is reported as skipped): text/data/bss from the toolchain's `size`, flash =
text + data, static RAM = data + bss (the stack comes on top: the deepest path, a COMMAND being
answered, holds a decoded message and a wire buffer, a few hundred bytes). The image is the core
plus a minimal main loop (test/size_main.c), built with the core's own warning set and -Werror,
so a report at all means the build was warning-free.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

TARGETS = {
    "atmega328p": {"elf": "core_atmega328p.elf", "cc": "avr-gcc", "size": "avr-size",
                   "board": "Arduino Uno / Nano (ATmega328P)", "flash_bytes": 32768, "flash_usable_bytes": 32256,
                   "ram_bytes": 2048, "note": "flash_usable: 32 KiB minus the 512-byte Optiboot bootloader"},
    "cortex_m0": {"elf": "core_cortex_m0.elf", "cc": "arm-none-eabi-gcc", "size": "arm-none-eabi-size",
                  "board": "Cortex-M0 (thumb, newlib-nano; e.g. SAMD21, RP2040, STM32F0)",
                  "note": "no fixed part: compare with your MCU's flash/RAM"},
}


def _version(cc: str) -> str:
    try:
        return subprocess.run([cc, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        return "unknown"


def report(build: Path, flags: str) -> dict:
    out = {"command": "make -C firmware_bridge size", "image": "src/ core + test/size_main.c (no board support)",
           "cflags": flags, "host": platform.platform(), "targets": {}}
    for name, t in TARGETS.items():
        elf = build / t["elf"]
        if not elf.exists():
            out["targets"][name] = {"skipped": f"{t['cc']} not installed", "board": t["board"]}
            continue
        line = subprocess.run([t["size"], str(elf)], capture_output=True, text=True, check=True).stdout.splitlines()[1]
        text, data, bss = (int(x) for x in line.split()[:3])
        row = {"board": t["board"], "compiler": _version(t["cc"]), "warnings": 0, "text": text, "data": data,
               "bss": bss, "flash_bytes_used": text + data, "static_ram_bytes_used": data + bss, "note": t["note"]}
        if "flash_bytes" in t:
            row["flash_percent"] = round(100 * (text + data) / t["flash_bytes"], 1)
            row["flash_usable_percent"] = round(100 * (text + data) / t["flash_usable_bytes"], 1)
            row["static_ram_percent"] = round(100 * (data + bss) / t["ram_bytes"], 1)
        out["targets"][name] = row
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--flags", default="")
    a = ap.parse_args()
    doc = report(a.build, a.flags)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = a.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, a.out)
    for name, row in doc["targets"].items():
        if "skipped" in row:
            print(f"size: {name}: SKIPPED ({row['skipped']})")
        else:
            pct = f" ({row['flash_percent']}% flash, {row['static_ram_percent']}% RAM)" if "flash_percent" in row else ""
            print(f"size: {name}: flash {row['flash_bytes_used']} B, static RAM {row['static_ram_bytes_used']} B{pct}")
    print(f"size: wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
