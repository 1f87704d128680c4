"""Tests of segcli/scores: one file per score family, each against independent references
(tests/scores/_reference.py runs a score over a list of cases against a reference)."""
