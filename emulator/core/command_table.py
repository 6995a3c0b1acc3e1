"""The shape of a command: what the table in :mod:`emulator.core.commands` is made of.

A :class:`CommandSpec` is one firmware command as the manual documents it: its
section, a summary, the syntax of each form, its defaults, and one pure handler
per form. Handlers take the module state and the parsed call and return a
:class:`Reply`, or raise :class:`~emulator.core.errors.CommandError`; they do no
I/O and never format bytes (``at_replies`` does).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .actions import Action
from .at_syntax import CommandCall, Form
from .events import Event

if TYPE_CHECKING:
    from .module_state import ModuleState

#: Something the module says outside a command's answer: a URC line (framed per ATV),
#: or bytes sent exactly as they are (received payload in IPRFMT 1 and 2).
Unsolicited = str | bytes


@dataclass(frozen=True, kw_only=True, slots=True)
class DataRequest:
    """A handler wants a data block: show the prompt, take ``length`` bytes, then call ``on_data``.

    ``secret`` blocks (certificates, keys) are redacted from traces.
    """

    length: int
    on_data: Callable[[bytes], Reply]
    secret: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class WaitRequest:
    """A handler's answer depends on an event (``+MIPDNS`` waits for the name lookup).

    The line stays open, without a final result code, until an event for which
    ``matches`` is true arrives; ``on_event`` then gives the rest of the answer.
    """

    matches: Callable[[Event], bool]
    on_event: Callable[[Event], Reply]


@dataclass(kw_only=True, slots=True)
class Reply:
    """What a handler answers: information lines, then (unless it waits) ``OK``.

    ``raw`` goes out as is after the lines (``+MIPREAD`` payload); ``actions``
    are for the edge (open a socket...); ``urcs`` are sent after the final
    result code (e.g. ``+MIPCALL: <ip>``); ``reset`` asks the module to
    power-cycle once ``OK`` is out.
    """

    lines: list[str] = field(default_factory=list)
    raw: bytes = b""
    actions: list[Action] = field(default_factory=list)
    data: DataRequest | None = None
    wait: WaitRequest | None = None
    urcs: list[Unsolicited] = field(default_factory=list)
    reset: bool = False


@dataclass(kw_only=True, slots=True)
class Outcome:
    """What an event from the edge makes the module say and do."""

    said: list[Unsolicited] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)


Handler = Callable[["ModuleState", CommandCall], Reply]


@dataclass(frozen=True, slots=True)
class FormSpec:
    """One form of a command: the syntax as the manual writes it, and its handler."""

    syntax: str
    handler: Handler

    @classmethod
    def fixed(cls, line: str) -> FormSpec:
        """A form whose answer is its syntax, one fixed line (test forms like ``+CGATT: (0,1)``)."""
        return cls(line, lambda m, call: Reply(lines=[line]))


@dataclass(frozen=True, kw_only=True, slots=True)
class CommandSpec:
    """One command. ``source`` cites the manual section, a standard, or says ``chosen: ...``."""

    name: str
    summary: str
    source: str
    forms: Mapping[Form, FormSpec]
    defaults: str = ""


class CommandTable:
    """Commands by name; built once from specs, read-only afterwards."""

    def __init__(self, specs: Iterable[CommandSpec]) -> None:
        self._specs: dict[str, CommandSpec] = {}
        for spec in specs:
            if spec.name in self._specs:
                raise ValueError(f"{spec.name} is in the table twice")
            self._specs[spec.name] = spec

    def lookup(self, name: str) -> CommandSpec | None:
        return self._specs.get(name)

    def __iter__(self) -> Iterator[CommandSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def render_markdown(self) -> str:
        """The table as documentation: one section per command, one line per form."""
        out = ["# Commands", ""]
        for spec in sorted(self, key=lambda s: s.name):
            out.append(f"## AT{spec.name}  ({spec.source})")
            out.append("")
            out.append(spec.summary)
            out.append("")
            for form, form_spec in spec.forms.items():
                out.append(f"- {form.value}: `{form_spec.syntax}`")
            if spec.defaults:
                out.append(f"- default: {spec.defaults}")
            out.append("")
        return "\n".join(out)
