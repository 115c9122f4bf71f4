"""Imports of torch-side libraries that need care on CPU-only machines.

With a CPU torch, pip picks a CUDA torchvision whose C++ ops cannot register,
and ``import torchvision`` (hence ``import timm``) fails with
``operator torchvision::nms does not exist``. We then define the two operator
schemas torchvision's Python side expects and import it again; timm's
classifiers never call those ops. A matching torch + torchvision install is
left alone (the first import simply succeeds).
"""

from __future__ import annotations

import sys

_timm = None


def import_timm():
    global _timm
    if _timm is not None:
        return _timm
    import torch

    try:
        import torchvision
    except RuntimeError as exc:
        if "torchvision::nms" not in str(exc):
            raise
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        lib = torch.library.Library("torchvision", "DEF")
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _keepalive.append(lib)
        import torchvision  # noqa: F401
    import timm

    _timm = timm
    return timm


_keepalive: list = []
