"""The ``modelbench`` command: argument parsing and dispatch.

Exit status: 0 done; 1 a gate failed (``compare``) or a model of the file was not measured;
2 bad input (a missing or malformed file, an unknown model, task or option value): one line
on stderr naming the file and the value, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from .._exceptions import ConfigError, ModelbenchError
from ._output import Writer

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

DESCRIPTION = """\
Results after the session: show, compare, merge, report and follow pytest-modelbench results
files (written with --modelbench-json). Every summary is recomputed from the runs by the same
end-of-session pipeline the pytest plugin uses, so the numbers are the session's."""


class _UsageError(Exception):
    """A bad command line, as one line."""


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (and exit status 2), as every other bad input."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{self.prog}: error: {message} (see {self.prog} --help)")


def _setting(name: str) -> Callable[[str], Any]:
    """The session's parser of a setting (``session.settings.parse_NAME``) as an argparse type,
    its message naming the option as this command does (``alpha``, not ``modelbench alpha``)."""

    def parse(text: str) -> Any:
        from ..session import settings

        try:
            return getattr(settings, f"parse_{name}")(text)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc).replace(f"modelbench {name}", name)) from None

    return parse


_alpha = _setting("alpha")
_rank = _setting("rank")


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = _Parser(prog="modelbench", description=DESCRIPTION,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"pytest-modelbench {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    show = commands.add_parser("show", help="The terminal summary of a results file, one model, or one task's replies",
                               description="The terminal summary of a results file (as the session printed it); "
                                           "--model: one model's report with grades; --task: every model's replies "
                                           "to one task side by side")
    show.add_argument("results", metavar="RESULTS.json")
    show.add_argument("--model", metavar="NAME", help="One model's report: categories with grades, latency, cost, "
                                                      "worst tasks")
    show.add_argument("--task", metavar="ID", help="The prompt and every model's replies to this task (its id, or a "
                                                   "unique part of it)")
    show.add_argument("--rank", metavar="METHOD", type=_rank,
                      help="Ranking shown as the headline: weighted, bradley_terry, elo, borda or pareto")
    show.add_argument("--use-case", metavar="NAME", help="Show the recommendation for one use case only")
    _verbosity(show)

    compare = commands.add_parser("compare", help="Compare a results file with a baseline and evaluate CI gates",
                                  description="The paired baseline comparison and the CI gates, as "
                                              "--modelbench-baseline computes them in a session. Exit status 1 "
                                              "when a gate fails.")
    compare.add_argument("baseline", metavar="BASELINE.json")
    compare.add_argument("current", metavar="CURRENT.json")
    compare.add_argument("--fail-on-regression", action="store_true",
                         help="Fail when a model's score fell by at least the tolerance, significantly")
    compare.add_argument("--tolerance", metavar="POINTS", help="Score drop the regression gate tolerates (default 2)")
    compare.add_argument("--min-score", metavar="N|MODEL=N,...", help="Fail when a model's overall score is below N")
    compare.add_argument("--max-p95-latency-ms", metavar="MS", help="Fail when a model's p95 latency exceeds MS")
    compare.add_argument("--max-cost-per-task", metavar="USD", help="Fail when a model's cost per task exceeds USD")
    compare.add_argument("--alpha", metavar="ALPHA", type=_alpha,
                         help="Significance level (default: the current file's, else 0.05)")
    compare.add_argument("-o", "--output", metavar="PATH.json",
                         help="Also write CURRENT's results with the baseline and gates blocks")
    _verbosity(compare)

    merge = commands.add_parser("merge", help="Merge results files (CI shards) into one",
                                description="The union of the runs of several results files, every summary "
                                            "recomputed from the runs (never averaged)")
    merge.add_argument("files", metavar="RESULTS.json", nargs="+")
    merge.add_argument("-o", "--output", metavar="OUT.json", required=True, help="The merged results file")

    report = commands.add_parser("report", help="Write a Markdown or HTML report of a results file",
                                 description="A Markdown (.md) or self-contained HTML (.html) report")
    report.add_argument("results", metavar="RESULTS.json")
    report.add_argument("-o", "--output", metavar="PATH.md|PATH.html", required=True, action="append",
                        help="Report file; the suffix picks the format (repeatable)")
    report.add_argument("--trend", metavar="EARLIER.json|DIR", nargs="+",
                        help="Earlier results files in time order (or a directory of them, sorted by "
                             "meta.finished_at): the HTML report gains a Trend section, each model's score "
                             "in each file, RESULTS last")

    trend = commands.add_parser("trend", help="Each model's score over a series of results files",
                                description="Each model's score over results files in time order (or a "
                                            "directory of them, sorted by meta.finished_at), with a flag where "
                                            "two consecutive files differ significantly")
    trend.add_argument("files", metavar="RESULTS.json|DIR", nargs="+")
    trend.add_argument("-o", "--output", metavar="PATH.md|PATH.html", action="append", default=[],
                       help="Also write the trend as Markdown or HTML with a chart (repeatable)")
    trend.add_argument("--alpha", metavar="ALPHA", type=_alpha,
                       help="Significance level (default: the last file's, else 0.05)")
    return parser


def _verbosity(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--verbose", action="count", default=0, help="Show more (every pair, every miss)")
    parser.add_argument("-q", "--quiet", action="count", default=0, help="Show less (the headline ranking)")


def main(argv: Sequence[str] | None = None, *, stdout: Any = None, stderr: Any = None) -> int:
    """Run the command line; returns the exit status."""
    stderr = stderr if stderr is not None else sys.stderr
    parser = build_parser()
    try:
        arguments = parser.parse_args(argv)
    except _UsageError as exc:
        stderr.write(f"{exc}\n")
        return EXIT_USAGE
    except SystemExit as exit_:  # --help, --version
        return int(exit_.code or 0)
    out = Writer(stdout)
    try:
        return _dispatch(arguments, out)
    except (ConfigError, ModelbenchError, ValueError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        stderr.write(f"modelbench {arguments.command}: error: {message}\n")
        return EXIT_USAGE
    except BrokenPipeError:  # the reader went away (| head): stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except OSError as exc:  # a file that cannot be written
        stderr.write(f"modelbench {arguments.command}: error: {exc}\n")
        return EXIT_USAGE


def _dispatch(arguments: argparse.Namespace, out: Writer) -> int:
    from ._saved import load

    command = arguments.command
    if command == "show":
        from ._show import show

        return show(load(arguments.results), out, rank=arguments.rank, use_case=arguments.use_case,
                    model=arguments.model, task=arguments.task,
                    verbosity=arguments.verbose - arguments.quiet)
    if command == "compare":
        from ._compare import compare

        current = load(arguments.current)
        if not Path(arguments.baseline).is_file():
            load(arguments.baseline)  # the reader's message names the file
        gates = {"fail_on_regression": arguments.fail_on_regression, "tolerance": arguments.tolerance,
                 "min_score": arguments.min_score, "max_p95_latency_ms": arguments.max_p95_latency_ms,
                 "max_cost_per_task": arguments.max_cost_per_task}
        return compare(Path(arguments.baseline), current, out, alpha=arguments.alpha, gates=gates,
                       output=_json_path(arguments.output), verbosity=arguments.verbose - arguments.quiet)
    if command == "merge":
        from ..core.results import write_json_atomic
        from ._merge import merged_document

        output = _json_path(arguments.output)
        files = [load(path) for path in arguments.files]
        document, notes = merged_document(files, output)
        write_json_atomic(output, document)
        out.lines(notes)
        out.line(f"merged {len(files)} files ({len(document['runs'])} runs, {len(document['models'])} models) "
                 f"into {output}")
        return EXIT_OK
    if command == "report":
        from ..reports import parse_report_path, write_report

        targets = [parse_report_path(path, "-o") for path in arguments.output]
        saved = load(arguments.results)
        trend = None
        if arguments.trend:
            from ..reports import trend_from_documents
            from ._trend import results_files

            earlier = [other for other in results_files(arguments.trend)
                       if other.path.resolve() != saved.path.resolve()]
            trend = trend_from_documents([*(other.document for other in earlier), saved.document])
        for target in targets:
            write_report(saved.document, target, trend=trend)
            out.line(f"report written to {target}")
        return EXIT_OK
    if command == "trend":
        from ..reports import parse_report_path
        from ..reports.trend import write_trend
        from ._trend import collect, lines, trend

        targets = [parse_report_path(path, "-o") for path in arguments.output]
        data = trend(collect(arguments.files), alpha=arguments.alpha)
        out.sep("=", f"modelbench trend ({len(data['files'])} files)")
        for text in lines(data, width=out.width):
            if text.startswith("--- "):
                out.sep("-", text[4:])
            else:
                out.line(text)
        for target in targets:
            write_trend(data, target)
            out.line(f"trend written to {target}")
        return EXIT_OK
    raise ConfigError(f"unknown command {command!r}")  # argparse refuses it first


def _json_path(text: str | None) -> Path | None:
    if text is None:
        return None
    path = Path(text)
    if path.suffix.lower() != ".json":
        raise ConfigError(f"-o {text!r} must end in .json (a results file)")
    if path.is_dir():
        raise ConfigError(f"-o {text!r} is a directory; give a file path")
    return path
