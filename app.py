#!/usr/bin/env python3
"""CDK entry point (``cdk.json`` runs it): the Spruce stack, with cdk-nag's AwsSolutions checks.

Stack properties come from context (``cdk.json``, or ``-c spruce:stage=prod`` etc.; see
``infra/config.py``). Synthesis needs only node; deploying builds the worker image (Docker).
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT), str(ROOT / "shared")]  # infra/, layers/ and spruce (for its table constants)

from infra.app import build_app  # noqa: E402

if __name__ == "__main__":
    # Under the CDK CLI, CDK_OUTDIR says where; run directly, write ./cdk.out as the CLI would.
    app, _ = build_app(outdir=None if os.environ.get("CDK_OUTDIR") else str(ROOT / "cdk.out"))
    app.synth()
