"""`musechat eval ...`: evaluate the retriever and the explainer."""

from __future__ import annotations

import typer

app = typer.Typer(help="Evaluate models (retrieval, explainer).", no_args_is_help=True)
