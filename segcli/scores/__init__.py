"""Stage 3, scores: one pure function per score, one module per family (region, surface,
binary and multi-class losses, objects), the batch of intermediates every score of a pair
shares (``batch``), and the table of scores (``table``) that the CLI, the API and the docs read.

May import: ``segcli.errors``, ``segcli.display``, ``segcli.settings``, ``segcli.inputs``,
``segcli.engine`` and this folder; nothing from run or results.
"""
