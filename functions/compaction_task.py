"""Workflow task: compact one namespace (a Step Functions Map runs it over namespaces).

Input ``{"index": name, "namespace": ns, "force": bool}``; output ``{"compacted": bool}``.
"""

from typing import Any

from spruce.aws.settings import AwsSettings
from spruce.aws.workers import builder_engine

engine = builder_engine(AwsSettings.from_env())


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    compacted = engine.compact(event["index"], event["namespace"], force=bool(event.get("force", False)))
    engine.collect_garbage(event["index"], event["namespace"])
    return {"compacted": compacted}
