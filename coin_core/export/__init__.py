"""Exports of COIN results for other tools (``coin export``): nnU-Net v2 raw datasets of pseudo-labels."""
