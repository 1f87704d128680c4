"""Stage 4, run: scoring one pair (read, interpret, score), per class, against several raters,
and many pairs: worker processes, device batches, a Dask cluster, and what each pair yields
(a record or a failure).

May import: ``segcli.errors``, ``segcli.display``, ``segcli.settings``, ``segcli.inputs``,
``segcli.engine``, ``segcli.scores`` and this folder; nothing from results.
"""
