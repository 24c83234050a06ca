"""The ``talkface`` command: the group, its error handling and exit codes, ``entry``.

The commands live by group: ``make`` (generate, batch, landmarks), ``check`` (evaluate,
doctor), ``weights`` (talkface weights ...), ``train`` (talkface data / train ...).
"""
from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any

import typer
from typer.core import TyperGroup

try:  # recent typer carries its own copy of click
    from typer._click import exceptions as click_errors
except ImportError:  # older typer runs on click itself
    from click import exceptions as click_errors

from .. import __version__
from ..runtime import signals
from ..runtime.errors import EXIT_INPUT, EXIT_INTERRUPTED, EXIT_UNEXPECTED, TalkfaceError, describe
from ..runtime.log import log_to_stderr

EPILOG = ("Exit codes: 0 ok, 1 unexpected error (run with --debug), 2 bad usage or input, 3 no face found, "
          "4 weights missing or corrupt, 5 some batch items failed, 6 a doctor check failed, "
          "130 interrupted (Ctrl-C or SIGTERM).")


def _signal_name(signum) -> str:
    import signal

    return {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}.get(signum, "a signal")


def interrupted() -> int:
    """Stop after Ctrl-C or SIGTERM: kill the encoder, remove unfinished temp files, say so
    once on stderr; the exit code (130)."""
    signals.acknowledge()
    signals.cleanup()
    if signals.mark_reported():
        how = _signal_name(signals.last_signal() or signals.SIGNALS[0])
        typer.echo(f"error: interrupted ({how}); the unfinished output was removed (finished ones are kept)",
                   err=True)
    return EXIT_INTERRUPTED


def usage_line(e) -> str:
    """Click's three-line usage error as one line naming the option or file and the fix."""
    import ast
    import re

    cmd = e.ctx.command_path if e.ctx is not None else "talkface"
    see = f"see '{cmd} --help'"
    msg = " ".join(e.format_message().split())
    if isinstance(e, click_errors.NoSuchOption):
        near = f" (did you mean {', '.join(sorted(e.possibilities))}?)" if e.possibilities else ""
        return f"{e.option_name}: no such option of '{cmd}'{near}; {see}"
    m = re.search(r"^(?:file|directory|path) ('.*'|\".*\") is not readable\.?$", str(getattr(e, "message", "")),
                  re.IGNORECASE)
    if m:
        try:
            name = ast.literal_eval(m.group(1))
        except (ValueError, SyntaxError):
            name = m.group(1).strip("'\"")
        return f"{name}: not readable (permission denied); check its permissions (chmod u+r) or give another file"
    msg = msg.rstrip(".")
    if len(msg) > 1 and msg[0].isupper() and msg[1].islower():  # "Missing argument" -> "missing argument"
        msg = msg[0].lower() + msg[1:]
    return f"{msg}; {see}"


class _NoSuchError(Exception):
    pass


_NoArgsIsHelp: Any = getattr(click_errors, "NoArgsIsHelpError", _NoSuchError)  # click >= 8.2


class OneLineErrors(TyperGroup):
    """The top-level command: SIGINT / SIGTERM handled for every subcommand (exit 130), and
    usage errors (unknown option, bad value, missing argument, unreadable file) as one
    ``error:`` line instead of click's Usage / Try / Error block."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        with signals.installed():
            try:
                rv = super().main(args=args, prog_name=prog_name, complete_var=complete_var,
                                  standalone_mode=False, **extra)
                code = rv if isinstance(rv, int) and not isinstance(rv, bool) else 0
            except _NoArgsIsHelp as e:  # bare "talkface": the help, as before
                e.show()
                code = e.exit_code
            except click_errors.UsageError as e:
                typer.echo(f"error: {usage_line(e)}", err=True)
                code = EXIT_INPUT
            except click_errors.ClickException as e:
                typer.echo(f"error: {' '.join(e.format_message().split())}", err=True)
                code = e.exit_code
            except (typer.Abort, KeyboardInterrupt):
                code = interrupted()
            if code == EXIT_INTERRUPTED and signals.delivered():  # typer turned an interrupt outside run() into 130
                code = interrupted()
        if standalone_mode:
            sys.exit(code)
        return code


app = typer.Typer(cls=OneLineErrors, add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  epilog=EPILOG, help="Talking-face videos from one portrait and speech (ATVG-net, CVPR 2019).")
weights_app = typer.Typer(no_args_is_help=True, help="List, verify, import and remove model weights.")
data_app = typer.Typer(no_args_is_help=True, help="Prepare training data from clips with audio.")
train_app = typer.Typer(no_args_is_help=True, help="Train AT-net / VG-net and export weights.")
app.add_typer(weights_app, name="weights")
app.add_typer(data_app, name="data")
app.add_typer(train_app, name="train")

STATE = {"debug": False}


def _version(v: bool):
    if v:
        typer.echo(f"talkface {__version__}")
        raise typer.Exit()


@app.callback()
def main(debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
         version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print the version and exit.")):
    STATE["debug"] = debug
    log_to_stderr()  # warnings: one "warning: ..." line each on stderr


def run(fn):
    """Run ``fn`` mapping errors to one stderr line and the documented exit code; after any
    error the encoder is killed and unfinished temp files are removed (``signals.cleanup``)."""
    try:
        return fn()
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        raise typer.Exit(interrupted())
    except Exception as e:
        if signals.lost():  # a library turned the interrupt into this error: it is the interrupt
            raise typer.Exit(interrupted())
        signals.cleanup()
        raise typer.Exit(_report(e))


def _report(e: Exception) -> int:
    """Print the one ``error:`` line for ``e``; its exit code."""
    if isinstance(e, TalkfaceError) and e.exit_code == EXIT_INTERRUPTED:  # batch: stopped, report written
        signals.mark_reported()  # the line says so
    if STATE["debug"] and not isinstance(e, MemoryError):
        traceback.print_exc()
    code, msg = describe(e)
    typer.echo(f"error: {msg}", err=True)
    return code


def fail(e: Exception):
    """Stop the command with ``e``'s one ``error:`` line and exit code, as if it had raised it."""
    def go():
        raise e

    run(go)


def print_json(obj):
    typer.echo(json.dumps(obj, indent=None, sort_keys=False))


def entry():
    code: Any = EXIT_UNEXPECTED
    try:
        signals.install()  # for good: this process ends in here
        try:
            app(prog_name="talkface")
            code = 0
        except SystemExit as e:
            code = e.code
        if isinstance(code, str):
            print(code, file=sys.stderr)
            code = 1
        code = int(code or 0)
        signals.finish()  # leaving: a signal from here on changes nothing
    except KeyboardInterrupt:  # landed outside the command, e.g. while it was leaving
        code = interrupted()
        signals.finish()
    if "torch" in sys.modules:
        # Interpreter teardown after importing torch takes ~0.4 s (its module graph); every
        # output is complete and closed at this point, so leave straight away.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
