"""modelkiln: validate ML specs and compile them to Kubeflow, Terraform and KServe."""

__version__ = "0.2.0"
