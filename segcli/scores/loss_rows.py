"""The rows of the losses: binary losses on probabilities (a hard mask is p in {0, 1}), then the
multi-class losses on K-channel probabilities. Every loss is lower-is-better and reads the
prediction's probabilities (mode ``soft``). The binary ones run on the device in ``--device cuda``
runs except ``unet_wce``, whose U-Net map (connected components, per-instance transforms) the CPU
workers build."""

from __future__ import annotations

from segcli.scores import binary_losses as losses
from segcli.scores import multiclass_losses
from segcli.scores.row import Score, flag_defaults, once_per_batch
from segcli.settings import default

LOSS_TEST = "tests/scores/test_binary_losses.py"
MULTICLASS_TEST = "tests/scores/test_multiclass.py"
WEIGHT_MAPS_TEST = f"{LOSS_TEST}::test_weighted_bce_losses_match_references"
MONAI_LOSSES_TEST = f"{LOSS_TEST}::test_dice_and_tversky_losses_match_monai"
BINARY = ("binary", "soft")
MULTICLASS = ("multiclass", "soft")


def _binary(name: str, formula: str, compute, function, **fields) -> Score:
    return Score(name, "losses", formula, compute, function, direction="lower", modes=BINARY, **fields)


def _multiclass(name: str, formula: str, compute, function, **fields) -> Score:
    return Score(name, "losses", formula, compute, function, direction="lower", modes=MULTICLASS, **fields)


BINARY_ROWS: tuple[Score, ...] = (
    _binary(
        "bce",
        "mean(-(g log p + (1-g) log(1-p)))",
        lambda b: losses.bce(b.loss_inputs),
        losses.bce,
        on_device=True,
        defaults="p clamped to [1e-7, 1-1e-7]",
        peers="torch binary_cross_entropy",
        test=f"{LOSS_TEST}::test_bce_matches_spec_and_torch",
    ),
    _binary(
        "balanced_bce",
        "mean(-(b g log p + (1-b)(1-g) log(1-p))), b = share of negatives",
        lambda b: losses.balanced_bce(b.loss_inputs),
        losses.balanced_bce,
        on_device=True,
        peers="torch binary_cross_entropy(weight)",
        test=f"{LOSS_TEST}::test_balanced_bce_matches_torch_weighted_bce",
    ),
    _binary(
        "wbce",
        "mean(-(w g log p + (1-g) log(1-p)))",
        lambda b: losses.wbce(b.loss_inputs, pos_weight=b.options.pos_weight),
        losses.wbce,
        options=("pos_weight",),
        on_device=True,
        defaults="--pos-weight negatives/positives of the image",
        peers="torch binary_cross_entropy_with_logits(pos_weight)",
        test=f"{LOSS_TEST}::test_wbce_matches_torch_pos_weight",
    ),
    _binary(
        "nearest_cell_bce",
        "mean(-(w g log p + (1-g) log(1-p))), w = b/(1-b) + exp(-d^2), b = share of negatives, "
        "d = distance to the nearest GT pixel (0 on GT pixels: w = negatives/positives + 1)",
        lambda b: losses.nearest_cell_bce(b.loss_inputs),
        losses.nearest_cell_bce,
        on_device=True,
        defaults="no parameters",
        peers="weighted cross entropy, 'distance to the nearest cell' variant",
        test=f"{LOSS_TEST}::test_nearest_cell_bce_matches_the_formula_with_scipy_edt",
    ),
    _binary(
        "focal_loss",
        "mean(a_t (1-p_t)^gamma bce)",
        lambda b: losses.focal_loss(b.loss_inputs, alpha=b.options.focal_alpha, gamma=b.options.focal_gamma),
        losses.focal_loss,
        options=("focal_alpha", "focal_gamma"),
        on_device=True,
        defaults=flag_defaults("focal_alpha", "focal_gamma"),
        peers="MONAI FocalLoss(alpha=0.25)",
        test=f"{LOSS_TEST}::test_focal_loss_matches_monai",
    ),
    _binary(
        "dice_loss",
        "1 - (2 sum pg + s) / (sum p + sum g + s)",
        lambda b: losses.dice_loss(b.loss_inputs, smooth=b.options.smooth),
        losses.dice_loss,
        options=("smooth",),
        on_device=True,
        defaults=flag_defaults("smooth"),
        peers="MONAI DiceLoss",
        test=MONAI_LOSSES_TEST,
    ),
    _binary(
        "squared_dice_loss",
        "1 - (2 sum pg + s) / (sum p^gamma + sum g^gamma + s)",
        lambda b: losses.squared_dice_loss(b.loss_inputs, gamma=b.options.dice_gamma, smooth=b.options.smooth),
        losses.squared_dice_loss,
        options=("dice_gamma", "smooth"),
        on_device=True,
        defaults=flag_defaults("dice_gamma", "smooth"),
        peers="MONAI DiceLoss(squared_pred=True); V-Net (Milletari et al. 2016)",
        test=f"{LOSS_TEST}::test_squared_dice_loss_matches_monai_squared_pred",
    ),
    _binary(
        "tversky_loss",
        "1 - (TP + s) / (TP + a FP + b FN + s), soft counts",
        lambda b: losses.tversky_loss(
            b.loss_inputs, alpha=b.options.tversky_alpha, beta=b.options.tversky_beta, smooth=b.options.smooth
        ),
        losses.tversky_loss,
        options=("tversky_alpha", "tversky_beta", "smooth"),
        on_device=True,
        defaults=flag_defaults("tversky_alpha", "tversky_beta", "smooth"),
        peers="MONAI TverskyLoss",
        test=MONAI_LOSSES_TEST,
    ),
    _binary(
        "focal_tversky_loss",
        "tversky_loss ^ gamma",
        lambda b: losses.focal_tversky_loss(
            b.loss_inputs,
            alpha=b.options.tversky_alpha,
            beta=b.options.tversky_beta,
            gamma=b.options.focal_tversky_gamma,
            smooth=b.options.smooth,
        ),
        losses.focal_tversky_loss,
        options=("tversky_alpha", "tversky_beta", "focal_tversky_gamma", "smooth"),
        on_device=True,
        defaults=flag_defaults("focal_tversky_gamma"),
        peers="Abraham & Khan 2019",
        test=MONAI_LOSSES_TEST,
    ),
    _binary(
        "lovasz_hinge",
        "relu(1 - logit(p)(2g-1)) sorted . Lovasz gradient",
        lambda b: losses.lovasz_hinge(b.loss_inputs),
        losses.lovasz_hinge,
        on_device=True,
        peers="Berman et al. 2018 reference code",
        test=f"{LOSS_TEST}::test_lovasz_hinge_matches_reference_code",
    ),
    _binary(
        "combo_loss",
        "a bce + (1-a) dice_loss",
        lambda b: losses.combo_loss(b.loss_inputs, alpha=b.options.combo_alpha, smooth=b.options.smooth),
        losses.combo_loss,
        options=("smooth",),
        on_device=True,
        defaults=f"a = {default('combo_alpha'):g}, " + flag_defaults("smooth"),
        test=MONAI_LOSSES_TEST,
    ),
    _binary(
        "unet_wce",
        "mean(w bce), w = U-Net weight map of the GT",
        lambda b: losses.weighted_bce(b.loss_inputs, b.unet_weights),
        losses.weighted_bce,
        options=("w0", "sigma", "spacing"),
        defaults=flag_defaults("w0", "sigma") + ", 4-connected components",
        peers="Ronneberger et al. 2015",
        test=WEIGHT_MAPS_TEST,
    ),
    _binary(
        "boundary_bce",
        "mean(w bce), w = 5 within 3 px of the GT border, else 1",
        lambda b: losses.weighted_bce(b.loss_inputs, b.boundary_weights),
        losses.weighted_bce,
        on_device=True,
        defaults="weight 5, width 3 px",
        test=WEIGHT_MAPS_TEST,
    ),
    _binary(
        "distmap_bce",
        "mean(exp(-|sdf|/5) bce), sdf = EDT(G) - EDT(not G)",
        lambda b: losses.weighted_bce(b.loss_inputs, b.distance_weights),
        losses.weighted_bce,
        options=("spacing",),
        on_device=True,
        defaults="tau 5",
        test=WEIGHT_MAPS_TEST,
    ),
    _binary(
        "boundary_loss",
        "mean(p phi), phi = Kervadec signed distance of G",
        lambda b: losses.boundary_loss(b.loss_inputs, b.kervadec_phi),
        losses.boundary_loss,
        options=("spacing",),
        on_device=True,
        peers="Kervadec et al. 2019",
        test=WEIGHT_MAPS_TEST,
    ),
)

MULTICLASS_ROWS: tuple[Score, ...] = (
    _multiclass(
        "ce",
        "sum w[g] (-log p_g) / sum w[g] over non-ignored pixels",
        lambda b: multiclass_losses.cross_entropy(
            b.prob, b.target, b.valid, class_weights=b.class_weights, weights=b.weights
        ),
        multiclass_losses.cross_entropy,
        options=("class_weights", "ignore_index"),
        defaults="--class-weights none, " + flag_defaults("ignore_index"),
        peers="torch cross_entropy(weight, ignore_index)",
        test=f"{MULTICLASS_TEST}::test_cross_entropy_matches_torch_with_ignore_and_weights",
    ),
    _multiclass(
        "dice_loss",
        "mean over scored classes of the soft Dice loss",
        lambda b: multiclass_losses.multiclass_dice_loss(
            b.prob, b.target, b.valid, classes=b.classes, smooth=b.options.smooth, weights=b.weights
        ),
        multiclass_losses.multiclass_dice_loss,
        options=("smooth", "ignore_index", "include_background"),
        defaults=flag_defaults("smooth") + ", foreground classes unless --include-background",
        peers="MONAI DiceLoss(softmax, one-hot)",
        test=f"{MULTICLASS_TEST}::test_dice_loss_matches_monai_on_valid_pixels",
    ),
    _multiclass(
        "squared_dice_loss",
        "mean over scored classes of 1 - (2 sum p_c g_c + s) / (sum p_c^gamma + sum g_c + s)",
        lambda b: multiclass_losses.multiclass_dice_loss(
            b.prob,
            b.target,
            b.valid,
            classes=b.classes,
            smooth=b.options.smooth,
            gamma=b.options.dice_gamma,
            weights=b.weights,
        ),
        multiclass_losses.multiclass_dice_loss,
        options=("dice_gamma", "smooth", "ignore_index", "include_background"),
        defaults=flag_defaults("dice_gamma", "smooth") + ", foreground classes unless --include-background",
        peers="MONAI DiceLoss(softmax, one-hot, squared_pred=True)",
        test=f"{MULTICLASS_TEST}::test_multiclass_squared_dice_matches_monai",
    ),
    _multiclass(
        "focal_loss",
        "mean of -(1-p_t)^gamma log p_t (softmax)",
        lambda b: multiclass_losses.multiclass_focal_loss(
            b.prob, b.target, b.valid, gamma=b.options.focal_gamma, weights=b.weights
        ),
        multiclass_losses.multiclass_focal_loss,
        options=("focal_gamma", "ignore_index"),
        defaults=flag_defaults("focal_gamma"),
        peers="Lin et al. 2017",
        test=f"{MULTICLASS_TEST}::test_dice_loss_matches_monai_on_valid_pixels",
    ),
    _multiclass(
        "lovasz_softmax",
        "mean over GT classes of |fg - p_c| sorted . Lovasz gradient",
        lambda b: multiclass_losses.lovasz_softmax(b.prob, b.target, b.valid, weights=b.weights),
        multiclass_losses.lovasz_softmax,
        options=("ignore_index",),
        peers="Berman et al. 2018 reference code (classes='present')",
        test=f"{MULTICLASS_TEST}::test_lovasz_softmax_matches_reference",
    ),
)

BINARY_LOSSES: dict[str, Score] = {s.name: once_per_batch(s) for s in BINARY_ROWS}
MULTICLASS_LOSSES: dict[str, Score] = {s.name: once_per_batch(s) for s in MULTICLASS_ROWS}
