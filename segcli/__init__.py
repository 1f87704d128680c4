"""segcli: score segmentations, write training weight maps, compute class weights.

From Python::

    import segcli
    segcli.score(pred, gt, "dice,hd95", spacing=(2.0, 0.5, 0.5))   # one pair of arrays or tensors
    for record in segcli.score_files("preds/", "gt/"):              # the CLI's records
        ...
    segcli.metrics.hausdorff_distance(pred, gt, percentile=95)      # one score family
    segcli.losses.focal_loss(prob, gt, alpha=0.25, gamma=2.0)
    segcli.weight_map(mask, "unet", w0=10, sigma=5)
    segcli.class_weights(label_images, "median")

Names are imported on first use, so ``import segcli`` (and the CLI's start-up) stays light.
"""

__version__ = "0.1.0"

__all__ = ["score", "score_files", "summarize", "weight_map", "class_weights", "metrics", "losses", "__version__"]

_API = ("score", "score_files", "summarize", "weight_map", "class_weights")


def __getattr__(name: str):
    import importlib

    if name in _API:
        return getattr(importlib.import_module("segcli.api"), name)
    if name in ("metrics", "losses"):
        return importlib.import_module(f"segcli.{name}")
    raise AttributeError(f"module 'segcli' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
