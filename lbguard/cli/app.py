"""`lbguard`: the command line around a load-balancer change.

Exit codes everywhere: 0 ok, 1 a finding that must block (mandatory violation,
outage-class diagnosis), 2 usage/config/program error reported as one line.
Each command lives in its own module under ``lbguard.cli.commands`` and registers here.
"""

from __future__ import annotations

import os
import sys
import traceback

import click

from lbguard.core.model import LbguardError

EXIT_OK, EXIT_BLOCK, EXIT_ERROR = 0, 1, 2


def one_line(err: BaseException) -> str:
    """Any exception as the single line the user sees: AWS errors with operation, code and
    message; anything else with its type (a bug, which `--debug` shows in full)."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(err, LbguardError):
        text = str(err)
    elif isinstance(err, ClientError):
        e = err.response.get("Error", {})
        text = f"AWS: {err.operation_name}: {e.get('Code')}: {e.get('Message')}"
    elif isinstance(err, BotoCoreError):
        text = f"AWS: {err}"
    elif isinstance(err, OSError) and err.filename:
        text = f"{err.filename}: {err.strerror}"
    else:
        text = f"internal error: {type(err).__name__}: {err} (run with --debug for the traceback)"
    text = " ".join(text.split())
    return text if len(text) <= 2000 else text[:1997] + "..."


class Group(click.Group):
    """Turns every exception (and click usage errors) into one line and exit 2."""

    def main(self, *args, **kwargs):  # noqa: D401 - click API
        kwargs.setdefault("standalone_mode", False)
        argv = kwargs.get("args") if kwargs.get("args") is not None else (args[0] if args else sys.argv[1:])
        debug = "--debug" in (argv or [])
        if debug:
            os.environ["LBGUARD_DEBUG"] = "1"
        try:
            rc = super().main(*args, **kwargs)
        except click.exceptions.Exit as err:
            sys.exit(err.exit_code)
        except click.exceptions.Abort:
            click.echo("lbguard: aborted", err=True)
            sys.exit(EXIT_ERROR)
        except click.ClickException as err:
            click.echo(f"lbguard: error: {err.format_message()}", err=True)
            sys.exit(EXIT_ERROR)
        except KeyboardInterrupt:
            click.echo("lbguard: interrupted", err=True)
            sys.exit(EXIT_ERROR)
        except Exception as err:  # noqa: BLE001 - the one error path: one line, exit 2
            if debug:
                traceback.print_exception(err)
            click.echo(f"lbguard: error: {one_line(err)}", err=True)
            sys.exit(EXIT_ERROR)
        sys.exit(rc or 0)


@click.group(cls=Group, invoke_without_command=True,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             epilog="Start with: lbguard preflight --stack dev    (lbguard COMMAND --help for each command)")
@click.option("--debug", is_flag=True, hidden=True, help="print tracebacks")
@click.version_option(None, "--version", package_name="lbguard", message="lbguard %(version)s")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Safety tooling for load-balancer changes (see README).

    Offline commands (preflight, route, preview, diff) never touch AWS; live commands
    (sandbox, promote, diagnose, rollback, drill) say which endpoint or account they use.
    """
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


def _register() -> None:
    from lbguard.cli.commands import preflight

    main.add_command(preflight.preflight)
    for name in ("preview", "route", "diff", "sandbox", "promote", "rollback", "diagnose", "drill", "rehearse", "profile",
                 "serve"):
        try:
            module = __import__(f"lbguard.cli.commands.{name}", fromlist=[name])
        except ModuleNotFoundError as err:
            if err.name != f"lbguard.cli.commands.{name}":
                raise
            continue
        main.add_command(getattr(module, name))
    from lbguard.cli.commands import freeze

    main.add_command(freeze.freeze)
    main.add_command(freeze.unfreeze)


_register()
