"""Networks of ATVG-net: AT-net, VG-net, the discriminator, their configs and the PCA."""
from .atnet import ATNet
from .config import CONFIGS, ATNetConfig, DiscriminatorConfig, VGNetConfig, get_config
from .discriminator import Discriminator
from .pca import LandmarkPCA
from .vgnet import VGNet

__all__ = ["ATNet", "VGNet", "Discriminator", "ATNetConfig", "VGNetConfig", "DiscriminatorConfig",
           "CONFIGS", "get_config", "LandmarkPCA"]
