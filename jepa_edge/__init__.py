"""jepa-edge: JEPA world models from a large teacher to a robot."""

__version__ = "0.1.0"


def load(path):
    """Load a jepa-edge model dir (config.json + safetensors) -> ModelBundle with .encoder etc."""
    from jepa_edge.models.model_dir import load_model_dir

    return load_model_dir(path)
