"""`load_bundle(bundle_dir) -> InferenceSession`: the one way back from an artifact to something that runs.

The manifest is verified first (format version, every file's size and sha256); then the backend
named in it is imported lazily, so a bundle for a backend that is not installed fails with one
line naming the extra to install.
"""
from __future__ import annotations

import os
from pathlib import Path

from jepa_edge.errors import BundleError
from jepa_edge.inference.manifest import Manifest, read_manifest
from jepa_edge.inference.session import InferenceSession


def _torch(bundle: Path, m: Manifest, **kw):
    from jepa_edge.inference.torch_session import TorchSession

    # the manifest has just verified every file of the bundle, its config.json included
    return TorchSession.from_model_dir(bundle, m.part, m.inputs, m.outputs, precision=m.precision, verify=False, **kw)


def _ort(bundle: Path, m: Manifest, **kw):
    from jepa_edge.inference.ort_session import OrtSession

    return OrtSession(bundle / m.entry, m.inputs, m.outputs, precision=m.precision, **kw)


def _openvino(bundle: Path, m: Manifest, **kw):
    from jepa_edge.inference.openvino_session import OpenVINOSession

    kw.setdefault("hint", m.scheme.get("hint", "LATENCY"))
    return OpenVINOSession(bundle / m.entry, m.inputs, m.outputs, precision=m.precision, **kw)


def _tensorrt(bundle: Path, m: Manifest, **kw):
    from jepa_edge.inference.tensorrt_session import TensorRTSession

    engine = bundle / m.entry
    if m.status == "kit":
        engine = bundle / m.scheme.get("engine", "model.engine")
        if not engine.is_file():
            raise BundleError(f"{bundle} is a device kit: build the engine on the device first "
                              f"(bash {bundle}/build_engine.sh), then load it again")
    return TensorRTSession(engine, m.inputs, m.outputs, precision=m.precision, **kw)


SESSIONS = {"torch": _torch, "onnx": _ort, "onnxruntime": _ort, "openvino": _openvino, "tensorrt": _tensorrt}


def load_bundle(bundle_dir: str | os.PathLike, *, verify: bool = True, allow_failed_gate: bool = False,
         trust_unverified: bool = False, **options) -> InferenceSession:
    """Open a bundle written by `jepa-edge export`. `options` go to the backend session
    (threads=, hint=, device=, providers=, ...). `trust_unverified`: open a bundle whose manifest
    carries no content hash (or whose hashes do not match) unchecked."""
    bundle = Path(bundle_dir)
    m = read_manifest(bundle, verify=verify, trust_unverified=trust_unverified)
    if m.status == "failed_gate" and not allow_failed_gate:
        g = m.gate or {}
        raise BundleError(f"bundle {bundle} failed its accuracy gate ({g.get('reason', 'see manifest.json')}); "
                          f"it is kept for inspection only (pass allow_failed_gate=True to run it anyway)")
    if m.backend not in SESSIONS:
        raise BundleError(f"bundle {bundle} needs backend {m.backend!r}, unknown to this jepa-edge: upgrade it")
    return SESSIONS[m.backend](bundle, m, **options).bind(m.latent, m, bundle)
