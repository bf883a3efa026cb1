"""Data: the built-in tabletop world (physics, rendering, clips, impossible variants, tasks) and
real data sources (image folders, video files, .npy arrays) behind one Dataset interface."""
from jepa_edge.data.clips import VIOLATIONS, make_clip, make_vo_pair
from jepa_edge.data.datasets import (
    ImageFolder, NpyArrays, VideoFiles, WorldClips, WorldImages, WorldTrajectories, WorldVOPairs, open_dataset,
)
from jepa_edge.data.policies import ExplorationPolicy, OracleController, PushPolicy, RandomPolicy, make_policy
from jepa_edge.data.tasks import TASK_CONFIG, Goal, is_success, sample_goal, start_episode
from jepa_edge.data.transforms import IMAGENET, Normalization
from jepa_edge.data.world import Clip, TabletopWorld, WorldConfig, WorldState

__all__ = [
    "Clip", "ExplorationPolicy", "Goal", "IMAGENET", "ImageFolder", "Normalization", "NpyArrays",
    "OracleController", "PushPolicy", "RandomPolicy", "TASK_CONFIG", "TabletopWorld", "VIOLATIONS",
    "VideoFiles", "WorldClips", "WorldConfig", "WorldImages", "WorldState", "WorldTrajectories", "WorldVOPairs",
    "is_success", "make_clip", "make_policy", "make_vo_pair", "open_dataset", "sample_goal", "start_episode",
]
