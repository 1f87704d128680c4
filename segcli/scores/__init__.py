"""One pure function per score, grouped by kind: region, losses, surface, multiclass."""
