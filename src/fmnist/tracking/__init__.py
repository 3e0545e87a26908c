"""Runs tracked where people already keep them: MLflow (`fmnist.tracking.mlflow_runs`)."""
