"""Tests of segcli/run: one pair, per class, raters, the pool and its faults, the device path,
the cluster, thresholds."""
