"""`lbguard`: the command line around a load-balancer change.

Exit codes everywhere: 0 ok, 1 a finding that must block (mandatory violation,
outage-class diagnosis), 2 usage/config/program error reported as one line.
Each command lives in its own module under ``lbguard.commands`` and registers here.
"""

from __future__ import annotations

import sys
import traceback

import click

from lbguard.model import LbguardError

EXIT_OK, EXIT_BLOCK, EXIT_ERROR = 0, 1, 2


class Group(click.Group):
    """Turns LbguardError (and click usage errors) into one line and exit 2."""

    def main(self, *args, **kwargs):  # noqa: D401 - click API
        kwargs.setdefault("standalone_mode", False)
        debug = "--debug" in sys.argv
        try:
            rc = super().main(*args, **kwargs)
        except LbguardError as err:
            if debug:
                traceback.print_exception(err)
            click.echo(f"lbguard: error: {err}", err=True)
            sys.exit(EXIT_ERROR)
        except click.exceptions.Abort:
            click.echo("lbguard: aborted", err=True)
            sys.exit(EXIT_ERROR)
        except click.ClickException as err:
            click.echo(f"lbguard: error: {err.format_message()}", err=True)
            sys.exit(EXIT_ERROR)
        sys.exit(rc or 0)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lbguard", prog_name="lbguard")
@click.option("--debug", is_flag=True, hidden=True, help="print tracebacks")
def main(debug: bool) -> None:
    """Safety tooling for load-balancer changes (see README)."""


def _register() -> None:
    from lbguard.commands import preflight

    main.add_command(preflight.preflight)
    for name in ("preview", "route", "diff", "sandbox", "promote", "rollback", "diagnose", "drill", "rehearse"):
        try:
            module = __import__(f"lbguard.commands.{name}", fromlist=[name])
        except ModuleNotFoundError as err:
            if err.name != f"lbguard.commands.{name}":
                raise
            continue
        main.add_command(getattr(module, name))
    from lbguard.commands import freeze

    main.add_command(freeze.freeze)
    main.add_command(freeze.unfreeze)


_register()
