"""Data: the built-in tabletop world (physics, rendering, clips, impossible variants, tasks) and
real data sources (image folders, video files, .npy arrays) behind one Dataset interface."""
# Names load on first use (PEP 562): the robot path imports the world and its tasks without torch,
# which only the dataset classes (datasets.py) and torch transforms (transforms.py) need.
_LAZY = {
    "VIOLATIONS": "clips", "make_clip": "clips", "make_vo_pair": "clips",
    "ImageFolder": "datasets", "NpyArrays": "datasets", "VideoFiles": "datasets", "WorldClips": "datasets",
    "WorldImages": "datasets", "WorldTrajectories": "datasets", "WorldVOPairs": "datasets", "open_dataset": "datasets",
    "ExplorationPolicy": "policies", "OracleController": "policies", "PushPolicy": "policies",
    "RandomPolicy": "policies", "make_policy": "policies",
    "TASK_CONFIG": "tasks", "Goal": "tasks", "is_success": "tasks", "sample_goal": "tasks", "start_episode": "tasks",
    "IMAGENET": "transforms", "Normalization": "transforms",
    "Clip": "world", "TabletopWorld": "world", "WorldConfig": "world", "WorldState": "world",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'jepa_edge.data' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"jepa_edge.data.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "Clip", "ExplorationPolicy", "Goal", "IMAGENET", "ImageFolder", "Normalization", "NpyArrays",
    "OracleController", "PushPolicy", "RandomPolicy", "TASK_CONFIG", "TabletopWorld", "VIOLATIONS",
    "VideoFiles", "WorldClips", "WorldConfig", "WorldImages", "WorldState", "WorldTrajectories", "WorldVOPairs",
    "is_success", "make_clip", "make_policy", "make_vo_pair", "open_dataset", "sample_goal", "start_episode",
]
