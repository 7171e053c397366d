"""``debate experts list|train|eval``: the LoRA-expert library."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from debate.cli.errors import user_errors


def register(app: typer.Typer, console: Console | None = None) -> None:
    out = console or Console()
    experts = typer.Typer(help="LoRA experts on the local model: list, train, evaluate.", no_args_is_help=True)
    app.add_typer(experts, name="experts")

    @experts.command("list")
    def list_cmd(
        library: Annotated[str, typer.Option(help="Library folder, or 'shipped' (the package's experts).")] = "shipped",
    ) -> None:
        """Each expert with its domain, training data and held-out accuracy (own domain vs the base model)."""
        from debate.experts.library.library import open_library

        with user_errors():
            entries = open_library(library)
        table = Table(title=f"experts in {library}")
        for col in ("name", "domain", "rank", "trained on", "held-out, own domain: expert / base", "debiased: expert / base",
                    "other domains: expert (base)"):
            table.add_column(col)
        for e in entries:
            m = e.manifest
            held = m.evaluation.get("heldout", {}).get("domains", {})
            own = held.get(m.domain, {})
            others = ", ".join(f"{d} {r['expert']:.3f} (base {r['base']:.3f})" for d, r in held.items() if d != m.domain)
            deb = own.get("debiased", {})
            table.add_row(
                m.name, m.domain, str(m.rank), f"{m.training.n_examples} examples ({', '.join(m.training.datasets)})",
                f"{own['expert']:.3f} / {own['base']:.3f} (n={own['n']})" if own else "not evaluated",
                f"{deb['expert']:.3f} / {deb['base']:.3f}" if deb else "-",
                others or "-",
            )
        out.print(table)

    @experts.command("train")
    def train_cmd(
        domain: Annotated[str, typer.Argument(help="medical | science | logic")],
        data: Annotated[Path, typer.Option(help="Folder holding the datasets (laid out like shared/data).")],
        out_dir: Annotated[Path, typer.Option("--out", help="Expert folder to write (its name is the expert's name).")],
        questions: Annotated[int, typer.Option(min=1, help="Training questions (each in both option orders).")] = 400,
        gate_questions: Annotated[int, typer.Option(min=1, help="Questions for the token-routing gates.")] = 32,
        rank: Annotated[int, typer.Option(min=1)] = 8,
        layers: Annotated[int, typer.Option(min=1, help="Adapt the top this-many decoder layers.")] = 6,
        learning_rate: Annotated[float, typer.Option(min=0.0)] = 1e-3,
        epochs: Annotated[float, typer.Option(min=0.01)] = 1.0,
        seed: Annotated[int, typer.Option()] = 0,
        base: Annotated[str, typer.Option(help="'embedded' or an HF safetensors folder.")] = "embedded",
    ) -> None:
        """Train one domain expert (LoRA + PHATGOOSE gates + router centroid) and write its manifest."""
        from debate.training.expert import train_expert
        from debate.training.lora import LoraSettings

        with user_errors():
            settings = LoraSettings(rank=rank, alpha=2.0 * rank, layers=layers, learning_rate=learning_rate, epochs=epochs, seed=seed)
            m = train_expert(domain, data, out_dir, base=base, questions=questions, gate_questions=gate_questions,
                             settings=settings, command=" ".join(["debate", *sys.argv[1:]]))
        gates = m.evaluation.get("training", {})
        out.print(f"trained [bold]{m.name}[/]: {m.training.n_examples} examples, {m.training.steps} adapter steps, "
                  f"final loss {m.training.final_loss}; gates {gates.get('gate_steps')} steps, loss {gates.get('gate_final_loss')}; "
                  f"{m.training.seconds:.0f} s")

    @experts.command("eval")
    def eval_cmd(
        data: Annotated[Path, typer.Option(help="Folder holding the datasets (laid out like shared/data).")],
        library: Annotated[str, typer.Option(help="Library folder, or 'shipped'.")] = "shipped",
        per_domain: Annotated[int, typer.Option(min=1, help="Held-out questions per domain.")] = 100,
        write: Annotated[bool, typer.Option(help="Store the numbers in each expert's manifest.")] = False,
        device: Annotated[str, typer.Option()] = "auto",
    ) -> None:
        """Held-out option-letter accuracy of the base model and every expert on every domain."""
        from debate.training.evaluate import evaluate, write_evaluation

        with user_errors():
            table = asyncio.run(evaluate(library, data, per_domain=per_domain, device=device))
            if write:
                write_evaluation(library, table, " ".join(["debate", *sys.argv[1:]]))
        names = [k for k in next(iter(table.values())) if k not in ("n", "debiased")]
        t = Table(title="held-out accuracy, 2 options: letter (both orders) / order-debiased")
        t.add_column("domain")
        t.add_column("n")
        for n in names:
            t.add_column(n)
        for d, row in table.items():
            t.add_row(d, str(row["n"]), *(f"{row[n]:.3f} / {row['debiased'][n]:.3f}" for n in names))
        out.print(t)
