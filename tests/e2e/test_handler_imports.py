"""The API functions ship as small zip assets: importing them must not pull in LanceDB or
pyarrow (hundreds of MB) nor a model runtime (onnxruntime, tokenizers, safetensors: the
packaged models run in the inference function), and each handler module builds its clients
and app at import (with the inference function and every Bedrock model configured)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from spruce.storage.aws_tables import TableNames

ENV = {**TableNames("c", "n", "m", "l").env(), "SPRUCE_BUCKET": "b", "SPRUCE_EXECUTOR_FUNCTION": "x",
       "SPRUCE_INFERENCE_FUNCTION": "i", "SPRUCE_BEDROCK_MODELS": "all",
       "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}

PROBE = """
import json, sys
import functions.{name} as m
assert callable(m.handler)
heavy = ("lancedb", "pyarrow", "numpy", "fastapi", "onnxruntime", "tokenizers", "safetensors")
print(json.dumps(sorted(k for k in heavy if k in sys.modules)))
"""


@pytest.mark.parametrize("name,heavy", [
    ("control_plane", ["fastapi", "numpy"]), ("data_plane", ["fastapi", "numpy"]),
])
def test_api_functions_do_not_import_lancedb_or_pyarrow(name, heavy):
    out = subprocess.run([sys.executable, "-c", PROBE.format(name=name)], env={**os.environ, **ENV},
                         capture_output=True, text=True, check=True, cwd=os.path.dirname(os.path.dirname(
                             os.path.dirname(os.path.abspath(__file__)))))
    assert json.loads(out.stdout.strip().splitlines()[-1]) == heavy
