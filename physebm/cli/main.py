"""``physebm`` command line: ``demo``, ``logz`` (and more subcommands as the library grows)."""

from __future__ import annotations

import argparse
import sys

from physebm.cli import compare, exact_demo, logz_cmd


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="physebm",
        description="Energy-based models with statistical physics.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    exact_demo.add_parser(sub)
    logz_cmd.add_parser(sub)
    compare.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    import jax

    jax.config.update("jax_enable_x64", True)
    try:
        return int(args.run(args) or 0)
    except (ValueError, TypeError, OSError) as err:
        print(f"physebm {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"physebm {args.command}: interrupted; no partial output was left in --out",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
