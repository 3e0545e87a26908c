"""Sweeps on Ray Tune: the sweep file (`spec`), the runner, one trial, the results."""
