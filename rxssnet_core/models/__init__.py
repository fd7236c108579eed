"""RXSSNet and its parts, one paper term per file."""

from rxssnet_core.models.cgpi import CGPI, MLLABlock, RoPELinearAttention, RotaryEmbedding1d
from rxssnet_core.models.convnextv2_encoder import ConvNeXtV2Encoder
from rxssnet_core.models.crm import CRM
from rxssnet_core.models.lam import LAM, ChannelEmbed, CrossPath, LocalEmbed
from rxssnet_core.models.plpd import PLPD
from rxssnet_core.models.rxssnet import RXSSNet, build_model

__all__ = [
    "CGPI",
    "CRM",
    "LAM",
    "PLPD",
    "ChannelEmbed",
    "ConvNeXtV2Encoder",
    "CrossPath",
    "LocalEmbed",
    "MLLABlock",
    "RXSSNet",
    "RoPELinearAttention",
    "RotaryEmbedding1d",
    "build_model",
]
