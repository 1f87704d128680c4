"""segcli: score segmentations, write training weight maps, compute class weights.

The library is usable without the CLI: ``segcli.pipeline.score_pairs`` scores file pairs,
``segcli.scores`` holds one pure function per score, ``segcli.maps`` the weight maps.
"""

__version__ = "0.1.0"
