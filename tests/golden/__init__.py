"""Golden tests: every command's outputs, byte for byte, against recorded files (see cases.py)."""
