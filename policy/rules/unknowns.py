"""Stack rules at preview: an unknown value on one resource leaves only that resource undecided.

pulumi_policy runs a stack validation once over every resource; the first unknown value it reads
raises UnknownValueError, which the SDK turns into one ADVISORY "can't be known during preview"
diagnostic for the whole policy (pulumi_policy/policy.py, `AnalyzeStack`). Left alone, one
not-yet-pushed image digest would switch a rule off for every other resource in the stack.

Here each resource's properties are tagged with its URN, so an unknown read names its resource;
the check is then run again without that resource until it completes. Findings from every pass
are reported (each one was decided on known values). The resources left out are reported at the
end in a single UnknownValueError that names each one, so the engine still shows the policy as
not run for them. A rule relating resources may, on a later pass, miss the left-out resource
(e.g. report a Deployment whose PodDisruptionBudget is undecided): that errs on the blocking
side, and at update every value is known.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy import StackValidationArgs
from pulumi_policy.proxy import UnknownValueError

__all__ = ["UndecidedResourcesError", "decide_per_resource"]


class _UnknownInError(UnknownValueError):
    """An unknown value, read from the resource `urn`."""

    def __init__(self, urn: str, cause: UnknownValueError) -> None:
        super().__init__(cause.unknown_type_sentinel, list(cause.props))
        self.urn = urn
        self.message = cause.message.replace(" can't be known", f" of {urn} can't be known", 1)


class UndecidedResourcesError(UnknownValueError):
    """Every resource a stack rule could not decide on, in the SDK's message format."""

    def __init__(self, unknowns: Sequence[_UnknownInError]) -> None:
        first = unknowns[0]
        super().__init__(first.unknown_type_sentinel, list(first.props))
        self.urns = [unknown.urn for unknown in unknowns]
        self.message = "; ".join(unknown.message for unknown in unknowns)


def decide_per_resource(
    check: Callable[[StackValidationArgs], Iterable[Any]], args: StackValidationArgs
) -> Iterator[Any]:
    """Yield what `check` finds, excluding (and finally raising for) undecidable resources."""
    for resource in args.resources:
        resource.props = _TaggedMapping(resource.props, resource.urn)
    remaining = list(args.resources)
    undecided: list[_UnknownInError] = []
    while True:
        try:
            yield from check(StackValidationArgs(remaining, args.get_config(), args.stack_tags))
            break
        except _UnknownInError as unknown:
            if unknown.urn not in {r.urn for r in remaining}:
                raise
            undecided.append(unknown)
            remaining = [r for r in remaining if r.urn != unknown.urn]
    if undecided:
        raise UndecidedResourcesError(undecided)


def _tagged(value: Any, urn: str) -> Any:
    if isinstance(value, Mapping):
        return _TaggedMapping(value, urn)
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return _TaggedSequence(value, urn)
    return value


class _TaggedMapping(Mapping[str, Any]):
    def __init__(self, inner: Mapping[str, Any], urn: str) -> None:
        self._inner = inner
        self._urn = urn

    def __getitem__(self, key: str) -> Any:
        try:
            value = self._inner[key]
        except _UnknownInError:
            raise
        except UnknownValueError as unknown:
            raise _UnknownInError(self._urn, unknown) from None
        return _tagged(value, self._urn)

    def __iter__(self) -> Iterator[str]:
        return iter(self._inner)

    def __len__(self) -> int:
        return len(self._inner)


class _TaggedSequence(Sequence[Any]):
    def __init__(self, inner: Sequence[Any], urn: str) -> None:
        self._inner = inner
        self._urn = urn

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        try:
            value = self._inner[index]
        except _UnknownInError:
            raise
        except UnknownValueError as unknown:
            raise _UnknownInError(self._urn, unknown) from None
        return _tagged(value, self._urn)

    def __len__(self) -> int:
        return len(self._inner)
