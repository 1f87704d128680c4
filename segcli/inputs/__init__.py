"""Stage 1, inputs: finding files, pairing predictions with ground truth, reading every format
(TIFF, PNG, NPY/NPZ, NIfTI, NRRD, MetaImage, fsspec URLs), the spacing, units and geometry every
file read beside its GT must agree on (``spacing``), and interpreting the arrays (mask,
probabilities, logits, label maps).

May import: ``segcli.errors``, ``segcli.display``, ``segcli.settings`` and other modules of this
folder; nothing from a later stage (engine, scores, run, results) or the doors (cli, api).
"""
