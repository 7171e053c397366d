"""``debate``: run experiments and read their results. Every verb calls the Python API."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
import yaml
from rich.console import Console
from rich.text import Text

from debate.cli.errors import user_errors
from debate.cli.progress import ProgressBar
from debate.config import ConfigError, ProtocolSpec, load_config

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Scalable-oversight experiments: debate, consultancy, direct QA.")
console = Console()


def _protocol_flag(text: str) -> ProtocolSpec:
    """``debate`` or ``debate:rounds=3,simultaneous=false``."""
    name, _, rest = text.partition(":")
    params: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq:
            raise ConfigError(f"--protocol {text!r}: parameter {item!r} needs the form key=value")
        params[key.strip()] = yaml.safe_load(value)
    return ProtocolSpec(name=name.strip(), params=params)


@app.command()
def run(
    config: Annotated[Optional[Path], typer.Argument(help="YAML config; flags override it.")] = None,
    name: Annotated[Optional[str], typer.Option(help="Run name; re-running the same name resumes it.")] = None,
    db: Annotated[Optional[str], typer.Option(help="SQLite file for results.")] = None,
    dataset: Annotated[Optional[str], typer.Option(help="sample | quality:POOL.jsonl[:STORIES.jsonl] | FILE.jsonl")] = None,
    limit: Annotated[Optional[int], typer.Option(help="Use the first N questions.")] = None,
    protocol: Annotated[Optional[list[str]], typer.Option("--protocol", "-p", help="Repeatable: NAME or NAME:key=value,...")] = None,
    expert: Annotated[Optional[str], typer.Option(help="Expert model: embedded | local:PATH | PROVIDER/MODEL | a name from the config.")] = None,
    judge: Annotated[Optional[str], typer.Option(help="Judge model, same forms as --expert.")] = None,
    judge_kind: Annotated[Optional[str], typer.Option(help="logprob | generative")] = None,
    both_orders: Annotated[Optional[bool], typer.Option("--both-orders/--one-order", help="Run both option orders.")] = None,
    seed: Annotated[Optional[int], typer.Option()] = None,
    max_in_flight: Annotated[Optional[int], typer.Option(help="Episodes running at once.")] = None,
    speech_tokens: Annotated[Optional[int], typer.Option(help="Token budget per expert speech.")] = None,
    plugin: Annotated[Optional[list[str]], typer.Option("--plugin", help="Repeatable: module or .py file registering protocols.")] = None,
    call_cache: Annotated[Optional[str], typer.Option("--call-cache", help="SQLite file caching model calls: identical calls replay without compute.")] = None,
    call_cache_mode: Annotated[Optional[str], typer.Option("--call-cache-mode", help="use | refresh (call again, overwrite) | off")] = None,
) -> None:
    """Run (or resume) an experiment and print the judge-accuracy table."""
    from debate.orchestrator import run_experiment
    from debate.orchestrator.resume import check_resumable
    from debate.orchestrator.runner import prepare

    with user_errors():
        protocols = [_protocol_flag(p) for p in protocol] if protocol else None
        cfg = load_config(
            config, name=name, db=db, dataset=dataset, limit=limit, protocols=protocols, expert=expert, judge=judge,
            judge_kind=judge_kind, both_orders=both_orders, seed=seed, max_in_flight=max_in_flight, speech_tokens=speech_tokens,
            plugins=plugin, call_cache=call_cache, call_cache_mode=call_cache_mode,
        )
        questions = prepare(cfg)
        check_resumable(cfg, questions)
        console.print(Text.assemble(
            "run ", (cfg.name, "bold"), f" · {len(questions)} questions · protocols ",
            ", ".join(dict.fromkeys(p.label or p.name for p in cfg.protocols)), f" · expert {cfg.expert} · judge {cfg.judge} → {cfg.db}",
        ))
        t0 = time.perf_counter()
        try:
            with ProgressBar() as bar:
                result = asyncio.run(run_experiment(cfg, questions=questions, progress=bar))
        except KeyboardInterrupt:
            print(f"interrupted; finished episodes are saved in {cfg.db}: re-run the same command to resume", file=sys.stderr)
            raise typer.Exit(130) from None
        console.print(f"{result.completed} episodes run, {result.skipped} already complete, {result.errors} errors "
                      f"in {time.perf_counter() - t0:.0f} s", markup=False)
        _print_report(cfg.db, cfg.name)
    if result.errors:
        raise typer.Exit(1)


@app.command()
def report(
    db: Annotated[str, typer.Argument(help="SQLite file written by 'debate run'.")] = "debate-runs.sqlite",
    run_id: Annotated[Optional[str], typer.Option("--run", help="Run name (default: every run in the file).")] = None,
    by_experts: Annotated[bool, typer.Option("--by-experts", help="Also split rows by expert models.")] = False,
    judge: Annotated[Optional[str], typer.Option(help="Score a re-judge's verdicts instead of the original judge's.")] = None,
) -> None:
    """Judge accuracy per protocol and judge, with n, 95% CI, parse failures and errors."""
    with user_errors():
        if not Path(db).exists():
            raise FileNotFoundError(f"{db}: no such database")
        _print_report(db, run_id, by_experts, judge)


@app.command()
def rejudge(
    db: Annotated[str, typer.Argument(help="SQLite file written by 'debate run'.")],
    run_id: Annotated[str, typer.Option("--run", help="Run whose transcripts to judge again.")],
    judge: Annotated[str, typer.Option(help="Judge model: embedded | local:PATH | PROVIDER/MODEL | a name from --config.")],
    judge_kind: Annotated[str, typer.Option(help="logprob | generative")] = "logprob",
    config: Annotated[Optional[Path], typer.Option(help="Config file whose 'models:' define the judge.")] = None,
    max_in_flight: Annotated[int, typer.Option(help="Episodes judged at once.")] = 32,
) -> None:
    """Judge stored transcripts again with another judge; verdicts are stored beside the old ones."""
    from debate.orchestrator.rejudge import judge_label
    from debate.orchestrator.rejudge import rejudge as run_rejudge

    with user_errors():
        if not Path(db).exists():
            raise FileNotFoundError(f"{db}: no such database")
        if judge_kind not in ("logprob", "generative"):
            raise ConfigError(f"--judge-kind: expected logprob or generative, got {judge_kind!r}")
        models = load_config(config) if config else None
        result = asyncio.run(run_rejudge(db, run_id, judge, judge_kind=judge_kind, max_in_flight=max_in_flight, models=models))
        label = judge_label(judge, judge_kind)
        console.print(f"{result.judged} episodes judged by {label}, {result.skipped} already judged, {result.errors} errors", markup=False)
        _print_report(db, run_id, judge=label)
    if result.errors:
        raise typer.Exit(1)


def _print_report(db_path: str, run_id: str | None, by_experts: bool = False, judge: str | None = None) -> None:
    from debate.report import accuracy_table, render_accuracy
    from debate.report.accuracy import pooled_variant
    from debate.storage import open_database

    db = open_database(db_path)
    try:
        if run_id is not None and db.run(run_id) is None:
            raise ConfigError(f"{db_path}: no run named {run_id!r}; runs: {[r.id for r in db.runs()]}")
        by = ("variant", "judge_model", "expert_models") if by_experts else ("variant", "judge_model")
        if judge is not None and run_id is None:
            raise ConfigError("--judge needs --run")
        outcomes = db.outcomes(run_id, judged_by=judge)
        if judge is not None and not outcomes:
            judges = sorted(db.verdict_judges(run_id)) if run_id else []
            raise ConfigError(f"{db_path}: no verdicts by judge {judge!r} in run {run_id!r}; judges: {judges}")
        # Protocols split into variants (consultancy sides) also get one pooled row, as papers report them.
        pooled = [o.model_copy(update={"variant": pooled_variant(o.variant)}) for o in outcomes if pooled_variant(o.variant)]
        rows = accuracy_table(outcomes + pooled, by=by)
        title = Text(f"Judge accuracy — {run_id or 'all runs'} ({db_path})" + (f", re-judged by {judge}" if judge else ""))
        # Piped output would otherwise be cut at 80 columns.
        out = console if console.is_terminal else Console(width=160)
        out.print(render_accuracy(rows, title=title))
        if judge is None:
            from debate.cli.report_cmd import print_routing

            print_routing(db, run_id, out)  # runs with routed protocols: accuracy vs compute
        if run_id is not None and judge is None:
            final_judges = {o.judge_model for o in outcomes}
            others = {j: n for j, n in db.verdict_judges(run_id).items() if j not in final_judges}
            if others:
                out.print("Also judged by: " + ", ".join(f"{j} ({n} verdicts; --judge {j})" for j, n in sorted(others.items())), markup=False)
    finally:
        db.close()


@app.command("protocols")
def list_protocols() -> None:
    """List the registered protocols, their roles and parameters."""
    import inspect

    from debate.protocols import protocols

    for name, info in sorted(protocols().items()):
        params = [p for p in list(inspect.signature(info.fn).parameters.values())[1:]]
        shown = ", ".join(f"{p.name}={p.default!r}" for p in params) or "none"
        variants = "; ".join(", ".join(f"{k}={v}" for k, v in var.items()) for var in info.variants if var)
        console.print(f"[bold]{name}[/]  roles: {', '.join(info.roles)}  params: {shown}", highlight=False)
        if variants:
            console.print(f"  runs once per: {variants}", highlight=False)
        console.print(f"  {info.description}", highlight=False, markup=False)


def _register_commands() -> None:
    """Verbs that live in their own modules."""
    from debate.cli import experts_cmd, export_cmd, nyu_cmd, report_cmd, serve_cmd, tournament_cmd, view_cmd

    report_cmd.register(app, console)
    export_cmd.register(app)
    tournament_cmd.register(app, console)
    nyu_cmd.register(app)
    view_cmd.register(app)
    serve_cmd.register(app)
    experts_cmd.register(app, console)


_register_commands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
