"""Shared building blocks for the config models: strict base model and value types."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

# Unknown keys are almost always typos; a typo that silently falls back to a default is the
# kind of mistake that reaches production, so every model forbids them. Strict types: `true`
# is not the number 1 and `"3"` is not 3; lists stay lists (see `ListOf`).
STRICT = ConfigDict(extra="forbid", frozen=True, populate_by_name=False, strict=True)


class Strict(BaseModel):
    model_config = STRICT


_CPU = re.compile(r"^(?P<num>[0-9]+(\.[0-9]+)?)(?P<unit>m?)$")
_MEMORY = re.compile(r"^(?P<num>[0-9]+)(?P<unit>Ki|Mi|Gi|Ti|K|M|G|T)?$")
_MEMORY_FACTORS = {
    None: 1,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


def cpu_millicores(quantity: str) -> Decimal:
    match = _CPU.match(quantity)
    if match is None:
        raise ValueError(f"'{quantity}' is not a CPU quantity (e.g. '250m' or '0.5')")
    number = Decimal(match["num"])
    return number if match["unit"] == "m" else number * 1000


def memory_bytes(quantity: str) -> int:
    match = _MEMORY.match(quantity)
    if match is None:
        raise ValueError(f"'{quantity}' is not a memory quantity (e.g. '128Mi' or '1Gi')")
    return int(match["num"]) * _MEMORY_FACTORS[match["unit"]]


def _positive_cpu(quantity: str) -> str:
    if cpu_millicores(quantity) <= 0:
        raise ValueError(f"CPU quantity '{quantity}' must be greater than zero")
    return quantity


def _positive_memory(quantity: str) -> str:
    if memory_bytes(quantity) <= 0:
        raise ValueError(f"memory quantity '{quantity}' must be greater than zero")
    return quantity


CpuQuantity = Annotated[str, AfterValidator(_positive_cpu)]
MemoryQuantity = Annotated[str, AfterValidator(_positive_memory)]
DnsLabel = Annotated[str, Field(pattern=r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")]
HttpPath = Annotated[str, Field(pattern=r"^/[A-Za-z0-9._~/-]*$")]
ImageTag = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]


def _not_latest(tag: str) -> str:
    # 'latest' moves under a running Deployment; a rollback to it restores nothing.
    if tag == "latest":
        raise ValueError("tag 'latest' is not allowed: pin an immutable tag")
    return tag


PinnedTag = Annotated[ImageTag, AfterValidator(_not_latest)]
# A content address: the only reference under which a registry can never serve other bytes.
Digest = Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")]
Port = Annotated[int, Field(ge=1, le=65535)]
Percent = Annotated[int, Field(ge=1, le=100)]


class ComputeResources(Strict):
    cpu: CpuQuantity
    memory: MemoryQuantity


class ResourceRequirements(Strict):
    requests: ComputeResources
    limits: ComputeResources

    @model_validator(mode="after")
    def _requests_within_limits(self) -> ResourceRequirements:
        if cpu_millicores(self.requests.cpu) > cpu_millicores(self.limits.cpu):
            raise ValueError(
                f"requests.cpu ({self.requests.cpu}) exceeds limits.cpu ({self.limits.cpu})"
            )
        if memory_bytes(self.requests.memory) > memory_bytes(self.limits.memory):
            raise ValueError(
                f"requests.memory ({self.requests.memory}) exceeds limits.memory "
                f"({self.limits.memory})"
            )
        return self
