"""Stack properties, read once from CDK context (``cdk.json`` or ``-c spruce:key=value``).

Nothing else in ``infra/`` reads context or the environment: ``app.py`` builds a ``SpruceConfig``
and hands it to the stack, whose constructs take plain arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

PREFIX = "spruce:"


@dataclass(frozen=True, slots=True)
class SpruceConfig:
    #: Part of the stack name (``Spruce-<stage>``) and of resource tags.
    stage: str = "dev"
    #: Optional custom domain for the API (index hosts become ``https://<domain>/data/<index>``);
    #: needs an ACM certificate in the stack's region. Both or neither.
    domain_name: str = ""
    certificate_arn: str = ""
    #: Memory (MB) per function.
    control_plane_memory_mb: int = 512
    data_plane_memory_mb: int = 1024
    executor_memory_mb: int = 3008
    builder_memory_mb: int = 3008
    compaction_memory_mb: int = 3008
    bulk_memory_mb: int = 3008
    #: Ephemeral /tmp (MB) of the slab-writing functions (builder, compaction).
    worker_ephemeral_mb: int = 2048
    #: HTTP API stage throttling (requests per second, burst).
    throttle_rate: int = 1000
    throttle_burst: int = 2000
    #: CloudWatch Logs retention (days) for every function, the API access log and workflows.
    log_retention_days: int = 30
    #: Keep tables, the data bucket and the file system when the stack is deleted.
    retain_data: bool = True
    #: Slab-cache budget on EFS (SPRUCE_EFS_MAX_BYTES), GiB.
    efs_cache_gib: int = 200
    #: Index builder: stream batch size and batching window (seconds).
    builder_batch_size: int = 100
    builder_batch_window_s: int = 5
    #: Minutes between scheduled compactions of every index (0: none). Each run settles the
    #: namespaces written since the last: merges a bulk load's slabs, collects garbage.
    compaction_schedule_minutes: int = 60
    #: Alarm when the builder's stream iterator age exceeds this (seconds).
    builder_lag_alarm_s: int = 300
    #: Bulk import/export files: the only S3 place the bulk task reads and writes (imports from
    #: ``s3://<bucket>/<prefix>/...``). Empty bucket: the stack's data bucket. Same region as the stack
    #: (the workers reach S3 through the VPC's gateway endpoint).
    bulk_bucket: str = ""
    bulk_prefix: str = "bulk"
    #: Optional e-mail address subscribed to the alarm topic.
    alarm_email: str = ""
    #: The inference function (packaged models, worker image).
    inference_memory_mb: int = 3008
    #: Amazon Bedrock models the API serves (comma-separated Spruce names, or "all"; see
    #: spruce/inference/bedrock.py) and their region ("": the stack's).
    bedrock_models: str = ""
    bedrock_region: str = ""

    @staticmethod
    def from_context(get: Any) -> SpruceConfig:
        """``get`` is ``node.try_get_context``; keys are ``spruce:<camelCase field>``. Values given
        with ``-c`` arrive as strings and are converted to the field's type."""
        values: dict[str, Any] = {}
        for field in fields(SpruceConfig):
            raw = get(PREFIX + _camel(field.name))
            if raw is None:
                continue
            values[field.name] = _convert(field.name, field.type, raw)
        config = SpruceConfig(**values)
        config.validate()
        return config

    def validate(self) -> None:
        if bool(self.domain_name) != bool(self.certificate_arn):
            raise ValueError("spruce:domainName and spruce:certificateArn go together")
        if not self.stage.replace("-", "").isalnum():
            raise ValueError(f"spruce:stage must be alphanumeric (dashes allowed), not {self.stage!r}")

    @property
    def stack_name(self) -> str:
        return f"Spruce-{self.stage}"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _convert(name: str, kind: str, raw: Any) -> Any:
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        if str(raw).lower() in ("true", "1", "yes"):
            return True
        if str(raw).lower() in ("false", "0", "no"):
            return False
        raise ValueError(f"{PREFIX}{_camel(name)}: expected true or false, got {raw!r}")
    if kind == "int":
        return int(raw)
    return str(raw)
