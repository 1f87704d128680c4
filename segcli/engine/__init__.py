"""Stage 2, engine: the array operations every score is built on: numpy/torch operations,
confusion counts and borders, exact distance transforms (CPU and torch), weight and distance
maps (the instances the U-Net map is built on, a map's preview), and how many CPUs a run may use.

May import: ``segcli.errors``, ``segcli.display``, ``segcli.settings``, ``segcli.inputs`` and
this folder; nothing from scores, run or results.
"""
