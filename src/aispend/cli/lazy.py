"""Command groups that import a command's module only when that command runs (issue 13: start-up).

A group lists its commands statically: name, the module that defines it, and the one line `--help`
shows. `aispend --help` (or `aispend report --help`) prints those lines without importing any
command module; `aispend report top` imports `aispend.cli.report_spend` and nothing the other
commands need. When a command is used, its module registers it on a throwaway Typer exactly as the
group used to at start-up, so every name, option and help text is the module's own.
`tests/scenarios/test_cli_startup.py` checks that each static line is still the command's own first paragraph.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from importlib import import_module
from typing import Any, ClassVar, Literal

import typer
from typer.core import TyperCommand, TyperGroup

How = Literal["command", "group", "register"]


@dataclass(frozen=True)
class Lazy:
    """One command of a group, loaded on use.

    `target` is "module:attribute"; `how` says what the attribute is: a command function
    (`app.command(name)(fn)`), a Typer sub-app (`app.add_typer(sub, name=name)`), or a function that
    registers commands on the app it is given (`register(app)`, which may add several).
    """

    name: str
    target: str
    how: How
    help: str  # the first paragraph of the command's help, as `--help` of the group shows it


def command(name: str, target: str, help: str) -> Lazy:
    return Lazy(name, target, "command", help)


def group(name: str, target: str, help: str) -> Lazy:
    return Lazy(name, target, "group", help)


def registered(name: str, target: str, help: str) -> Lazy:
    return Lazy(name, target, "register", help)


class Placeholder(TyperCommand):
    """What a group lists before the command is loaded: its name and one line of help."""

    def __init__(self, spec: Lazy) -> None:
        super().__init__(spec.name, help=spec.help)
        self.spec = spec


def load(spec: Lazy) -> Any:  # Any: a click command, of the class typer vendors under a private name
    """The command as its module defines it (imports the module)."""
    module_name, _, attribute = spec.target.partition(":")
    target = getattr(import_module(module_name), attribute)
    holder = typer.Typer()
    if spec.how == "group":
        holder.add_typer(target, name=spec.name)
    elif spec.how == "command":
        holder.command(spec.name)(target)
    else:
        target(holder)
    return typer.main.get_group(holder).commands[spec.name]


def first_paragraph(help_text: str | None) -> str:
    """The line a group's `--help` shows for a command whose help is `help_text`."""
    return inspect.cleandoc(help_text or "").split("\n\n")[0].replace("\n", " ").strip()


class LazyGroup(TyperGroup):
    """A Typer group whose `lazy_commands` are imported when used; see `lazy_group`."""

    lazy_commands: ClassVar[tuple[Lazy, ...]] = ()

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for spec in self.lazy_commands:
            self.commands.setdefault(spec.name, Placeholder(spec))

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        name, cmd, rest = super().resolve_command(ctx, args)
        if isinstance(cmd, Placeholder) and name is not None:
            cmd = self.commands[name] = load(cmd.spec)
        return name, cmd, rest


def lazy_group(commands: tuple[Lazy, ...], base: type[LazyGroup] = LazyGroup) -> type[LazyGroup]:
    """A group class (for `typer.Typer(cls=...)`) listing `commands`, in that order, loaded on use."""
    return type(base.__name__, (base,), {"lazy_commands": commands})
