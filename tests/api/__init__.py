"""Tests of the Python API (segcli.score, score_files, summarize, weight_map, class_weights)."""
