"""Tests of segcli/results: formats and summaries, intervals, the journal, output guards,
read-back, compare, the HTML report."""
