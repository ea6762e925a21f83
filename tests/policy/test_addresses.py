"""policy/rules/addresses.py: "the internet" decided by coverage, not by spelling."""

from __future__ import annotations

import pytest

from policy.rules.addresses import covers_public_internet, is_public, parse_network


def _nets(*cidrs: str) -> list[object]:
    return [parse_network(c) for c in cidrs]


@pytest.mark.parametrize(
    ("cidrs", "everything"),
    [
        (("0.0.0.0/0",), True),
        (("::/0",), True),
        (("0.0.0.0/1", "128.0.0.0/1"), True),
        (("0.0.0.0/1",), False),
        (("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"), False),
        (("203.0.113.0/24",), False),
        ((), False),
    ],
)
def test_covers_public_internet(cidrs: tuple[str, ...], everything: bool) -> None:
    assert covers_public_internet(_nets(*cidrs)) is everything  # type: ignore[arg-type]


def test_is_public_and_parse() -> None:
    private, public = parse_network("10.1.0.0/16"), parse_network("8.8.8.8")
    assert private is not None and not is_public(private)
    assert public is not None and is_public(public)
    assert parse_network("any") is None and parse_network(None) is None
