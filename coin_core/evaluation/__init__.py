"""Evaluation: metrics, thresholds, attribution baselines and the one routine that scores them all."""
