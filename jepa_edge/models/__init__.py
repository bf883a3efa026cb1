"""JEPA models: ViT encoder, mask-token predictor, (action-conditioned predictor), registry, masks."""
from jepa_edge.models.config import EncoderConfig, PredictorConfig
from jepa_edge.models.flops import count_params, encoder_macs
from jepa_edge.models.masks import MaskBatch, MaskCollator, MultiBlockMasker2D, MultiBlockMasker3D, vjepa_maskers
from jepa_edge.models.model_dir import ModelDir, load_model_dir, save_model_dir
from jepa_edge.models.predictor import MaskTokenPredictor
from jepa_edge.models.registry import ARCHS, build_encoder, build_predictor, encoder_config, predictor_config
from jepa_edge.models.vit import VisionTransformer

__all__ = [
    "ARCHS", "EncoderConfig", "MaskBatch", "MaskCollator", "MaskTokenPredictor", "ModelDir",
    "MultiBlockMasker2D", "MultiBlockMasker3D", "PredictorConfig", "VisionTransformer", "build_encoder",
    "build_predictor", "count_params", "encoder_config", "encoder_macs", "load_model_dir", "predictor_config",
    "save_model_dir", "vjepa_maskers",
]
