"""Project environments[].terraform: where Terraform keeps the environment's state.

One state per environment: the key (s3, azurerm) or prefix (gcs) always ends in the
environment's name, so two environments can share a bucket and never a state. Only where
the state lives is written; credentials come from the environment Terraform runs in (OIDC
in CI, `-backend-config` for anything else), never from the files. The backend's cloud may
differ from the environment's: Terraform authenticates to a backend on its own, and teams
keep every state in one bucket. Arguments as Terraform 1.15's backends define them
(internal/backend/remote-state/{gcs,s3,azure}/backend.go, tag v1.15.5); docs/terraform.md.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from compiler.spec.base import Strict, fields_problem
from compiler.spec.types import Line, check_region

# Bucket names as GCS and S3 both accept them (lowercase letters, digits, dots, hyphens).
BucketName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
# Azure: storage accounts are 3-24 lowercase letters and digits; containers 3-63 of those
# and hyphens, starting and ending with a letter or a digit.
StorageAccount = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]{3,24}$")]
ContainerName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")]
# Path segments of letters, digits, '.', '_', '-' joined by single '/': the S3 backend
# refuses a key that starts or ends with '/' or holds '//' (s3/validate.go).
StatePrefix = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$", max_length=200)
]

BackendType = Literal["gcs", "s3", "azurerm"]
# The fields each backend type needs, and may take; the others are refused (a copy-paste).
NEEDS: dict[str, tuple[str, ...]] = {
    "gcs": ("bucket",),
    "s3": ("bucket", "region"),
    "azurerm": ("storageAccount", "container"),
}
MAY: dict[str, tuple[str, ...]] = {"azurerm": ("resourceGroup",)}


def _aws_region(value: str) -> str:
    return check_region("aws", value)


class StateBackend(Strict):
    type: BackendType = Field(description="gcs, s3 or azurerm (Terraform's backend types).")
    bucket: BucketName | None = Field(default=None, description="gcs and s3: the bucket.")
    region: Annotated[Line, AfterValidator(_aws_region)] | None = Field(
        default=None, description="s3: the bucket's AWS region."
    )
    storage_account: StorageAccount | None = Field(
        default=None, description="azurerm: the storage account."
    )
    container: ContainerName | None = Field(
        default=None, description="azurerm: the blob container in the storage account."
    )
    resource_group: Line | None = Field(
        default=None, description="azurerm: the storage account's resource group (optional)."
    )
    prefix: StatePrefix = Field(
        default="modelkiln",
        description="Folder of the states in the bucket or container; the environment's "
        "state is <prefix>/<environment>/terraform.tfstate (s3, azurerm) or "
        "<prefix>/<environment>/default.tfstate (gcs).",
    )

    @model_validator(mode="after")
    def _type_fields(self) -> StateBackend:
        given = {
            "bucket": self.bucket,
            "region": self.region,
            "storageAccount": self.storage_account,
            "container": self.container,
            "resourceGroup": self.resource_group,
        }
        allowed = NEEDS[self.type] + MAY.get(self.type, ())
        missing = [f for f in NEEDS[self.type] if given[f] is None]
        foreign = [f for f, v in given.items() if v is not None and f not in allowed]
        problem = fields_problem(missing, foreign)
        if problem is not None:
            raise PydanticCustomError(
                "MK223",
                "state backend '{type}' {problem}",
                {"type": self.type, "problem": problem},
            )
        return self


class EnvironmentTerraform(Strict):
    backend: StateBackend | None = Field(
        default=None,
        description="Where Terraform keeps this environment's state; absent: no backend "
        "block (local state, for trying things out).",
    )
