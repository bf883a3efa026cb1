"""jepa-edge: JEPA world models from a large teacher to a robot.

Two things are loaded, with two names:
- a *model dir* (config.json + safetensors, what training writes): `load_model_dir(path) -> ModelDir`,
  torch modules for training, evaluation and export; `load("reference:tabletop-reach")` opens the
  reference model shipped with the package (any model dir path works there too);
- a *bundle* (manifest.json + compiled files, what export writes): `load_bundle(path) -> InferenceSession`,
  what the robot runs, with no torch needed.
"""

__version__ = "0.1.0"


def load_model_dir(path):
    """Open a model dir (config.json + safetensors) -> ModelDir with .encoder, .predictor, .ac_predictor."""
    from jepa_edge.models.model_dir import load_model_dir

    return load_model_dir(path)


def load(name_or_path):
    """A model dir by path, or a shipped reference model by name (`reference:tabletop-reach`) -> ModelDir:
    what a user compares their own model against."""
    return load_model_dir(name_or_path)


def load_bundle(path, **options):
    """Open an exported bundle (manifest.json) -> InferenceSession, after verifying every file's hash."""
    from jepa_edge.inference.load import load_bundle

    return load_bundle(path, **options)
