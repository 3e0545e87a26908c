"""Evaluation: metrics, confusion, calibration (`evaluate`) and the diagnosis of a run."""
