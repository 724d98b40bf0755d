"""Build the CDK app: ``app.py`` calls ``build_app()``; tests call it with their own context."""

from __future__ import annotations

import os
from typing import Any

from aws_cdk import App, Environment

from infra.config import SpruceConfig
from infra.nag import add_checks
from infra.stack import SpruceStack


def build_app(context: dict[str, Any] | None = None, *, outdir: str | None = None,
              nag: bool = True) -> tuple[App, SpruceStack]:
    """The app with one ``Spruce-<stage>`` stack. The account and region come from the CDK CLI's
    environment (``CDK_DEFAULT_ACCOUNT`` / ``CDK_DEFAULT_REGION``) when it has them; without them
    the stack is environment-agnostic, which is how tests and offline ``synth`` run."""
    app = App(context=context, outdir=outdir)
    config = SpruceConfig.from_context(app.node.try_get_context)
    account, region = os.environ.get("CDK_DEFAULT_ACCOUNT"), os.environ.get("CDK_DEFAULT_REGION")
    env = Environment(account=account, region=region) if account and region else None
    stack = SpruceStack(app, config.stack_name, config=config, env=env)
    if nag:
        add_checks(app)
    return app, stack
