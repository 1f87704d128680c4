"""Stage 5, results: what a run writes and reads back: output formats and the summary,
intervals, the journal that makes a run resumable, output guards and atomic writes, read-back
of a saved run, ``compare``, the HTML report, its plots and thumbnails.

May import every earlier stage (inputs, engine, scores, run), ``segcli.errors``,
``segcli.display``, ``segcli.settings`` and this folder; not the doors (cli, api).
"""
