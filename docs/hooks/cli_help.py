"""mkdocs hook: put the ``--help`` text of ``physebm`` and each subcommand into ``cli.md``.

The marker ``<!-- physebm-cli-help -->`` in a page is replaced by one section per subcommand,
generated from the argparse parser itself, so the reference never drifts from the code.
"""

from __future__ import annotations

import argparse
import os

MARKER = "<!-- physebm-cli-help -->"


def _help(parser: argparse.ArgumentParser) -> str:
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "96"  # stable wrapping, whatever the terminal
    try:
        return parser.format_help()
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


def cli_reference() -> str:
    from physebm.cli.main import build_parser

    parser = build_parser()
    parts = [f"```text\n$ physebm --help\n{_help(parser)}```"]
    for action in parser._actions:  # argparse exposes subparsers only here
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                parts.append(
                    f"### `physebm {name}`\n\n```text\n$ physebm {name} --help\n{_help(sub)}```"
                )
    return "\n\n".join(parts)


def on_page_markdown(markdown, page, config, files):  # mkdocs hook signature
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, cli_reference())
