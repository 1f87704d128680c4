"""Tests of segcli/engine: array backends, confusion statistics, distance transforms, maps, the CPU plan."""
