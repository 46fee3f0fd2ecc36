"""``Registry``: one table per family of names (models, data sets, optimizers, schedules, augmentations).

A family's names are written down once, each with what it stands for (its builder, its defaults, its help
text), and everything that needs them reads that table: the configuration's checks, the builders, the
command line's help. A name the table does not have raises ``UnknownNameError`` naming the closest ones
(as ``difflib`` measures them); a lookup never falls through to a default.
"""

from __future__ import annotations

import difflib
from collections.abc import ItemsView, Iterator, Mapping
from typing import Generic, TypeVar

from ember.errors import EmberError

Entry = TypeVar("Entry")


class UnknownNameError(EmberError, KeyError):
    """A name its registry does not know; the message names the closest ones and where to see them all."""

    exit_status = 2  # for the ember command: a bad argument

    def __str__(self) -> str:  # KeyError's str() would quote the message
        return str(self.args[0])


class Registry(Generic[Entry]):
    """Entries by name, in the order they were registered. ``family`` names the kind in messages
    ("schedule"); ``listing`` says where to see them all (default: the names themselves); ``entries``: the
    first ones, as ``register`` would add them."""

    def __init__(
        self, family: str, listing: str | None = None, entries: Mapping[str, Entry] | None = None
    ) -> None:
        self.family = family
        self.listing = listing
        self._entries: dict[str, Entry] = {}
        for name, entry in (entries or {}).items():
            self.register(name, entry)

    def register(self, name: str, entry: Entry) -> Entry:
        """Add ``entry`` under ``name``; a name is registered once."""
        if name in self._entries:
            raise ValueError(f"a {self.family} named '{name}' is already registered")
        self._entries[name] = entry
        return entry

    def __getitem__(self, name: str) -> Entry:
        if name not in self._entries:
            raise UnknownNameError(self.unknown(name))
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def items(self) -> ItemsView[str, Entry]:
        return self._entries.items()

    def close_matches(self, name: str, n: int = 3) -> list[str]:
        """The known names most like ``name``, closest first."""
        return difflib.get_close_matches(str(name), list(self._entries), n=n)

    def unknown(self, name: str) -> str:
        """The message for a name this registry does not have."""
        close = self.close_matches(name)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        return f"unknown {self.family} '{name}'{hint}; {self.listing or 'choose one of: ' + self.choices()}"

    def choices(self) -> str:
        """The names in words: 'a, b or c'."""
        names = list(self._entries)
        return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
