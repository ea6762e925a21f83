"""The one error type of the config layer: a single line a person can act on."""

from __future__ import annotations


class ConfigError(Exception):
    """A config or spec value breaks a rule; `str()` is the one line shown to a person.

    The parts stay separate so a caller that knows more (the line a key sits on) can add it
    without parsing the message.
    """

    def __init__(self, file: str, key: str, rule: str, line: int | None = None) -> None:
        self.file = file
        self.key = key
        self.rule = _one_line(rule)
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.rule}" if self.key else f"{where}: {self.rule}"

    def at(self, line: int | None) -> ConfigError:
        """The same error, located; an already located error keeps its line."""
        if self.line or not line:
            return self
        return ConfigError(self.file, self.key, self.rule, line)


def _one_line(text: str) -> str:
    return " ".join(text.split())
