"""Tests of segcli/inputs: finding and pairing files, reading every format, spacing and units,
how a prediction is read."""
