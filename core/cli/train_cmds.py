"""`musechat train ...`: train the retriever and the explainer."""

from __future__ import annotations

import typer

app = typer.Typer(help="Train models (retriever, explainer).", no_args_is_help=True)
