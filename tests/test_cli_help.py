"""Every command documents itself: --help works and each command and option has help text."""

import click
import pytest
import typer.main
from typer.testing import CliRunner

from vcse_pipeline.cli import app

runner = CliRunner()


def _commands(group: click.Group, prefix=()):
    for name, command in group.commands.items():
        yield prefix + (name,), command
        if isinstance(command, click.Group):
            yield from _commands(command, prefix + (name,))


COMMANDS = list(_commands(typer.main.get_command(app)))


def test_the_pipeline_commands_exist():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"demo", "run", "download", "stage", "refresh", "status"} <= names


@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_and_option_is_documented(path, command):
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert command.help, f"vcse {' '.join(path)} has no help text"
    for param in command.params:
        if isinstance(param, click.Option) and param.name != "help":
            assert param.help, f"vcse {' '.join(path)} option {param.opts} has no help text"


@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_help_text_survives_rich_markup(path, command):
    """Rich reads "[tagging]" in help text as markup and drops it; such text must be escaped ("\\[tagging]")."""
    import re

    texts = [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]
    for text in texts:
        unescaped = re.findall(r"(?<!\\)\[[a-z_./ ]+\]", text)
        assert not unescaped, f"vcse {' '.join(path)}: {unescaped} would vanish from --help; write \\{unescaped[0]}"
