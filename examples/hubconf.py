"""The examples as a hub repository, as MegEngine/Models' hubconf.py makes its official
models one: ``graphc.hub.load("examples", "resnet18", num_classes=10)`` builds a
ResNet-18 from this directory (``hub.list("examples")`` names the entries).
"""

from bert import bert_small, uncased_L_12_H_768_A_12
from resnet18 import resnet18
from shufflenet_v2 import shufflenet_v2_x0_5

dependencies = ["numpy", "numba"]

__all__ = ["bert_small", "resnet18", "shufflenet_v2_x0_5", "uncased_L_12_H_768_A_12"]
