"""Launched training jobs: Kubeflow Trainer v2 TrainJob (and the TrainingRuntime modelkiln
renders per environment), and the legacy Training Operator v1 PyTorchJob (docs/training.md)."""
