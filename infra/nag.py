"""cdk-nag (3.x): the AwsSolutions pack runs as a CDK validation plugin on every synth, and findings
are acknowledged only through ``acknowledge`` below, each with its reason next to the construct it
concerns. ``tests/infra`` reads the acknowledgments back from the construct tree and holds every
reason to a minimum of substance.
"""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Acknowledgment, CfnElement, Stack, Validations
from constructs import IConstruct

#: Construct metadata key under which CDK records acknowledgments ({rule id: reason}).
ACKNOWLEDGED = Validations.ACKNOWLEDGED_RULES_METADATA_KEY
MIN_REASON = 30


def add_checks(app: IConstruct) -> None:
    from cdk_nag import AwsSolutionsChecks

    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def acknowledge(scope: IConstruct, rule: str, reason: str, *, applies_to: Iterable[str] = ()) -> None:
    """Acknowledge ``rule`` on ``scope`` and its children, for each finding in ``applies_to``
    (cdk-nag 3 needs one acknowledgment per finding, e.g. ``Resource::<Bucket.Arn>/slabs/*``)."""
    if len(reason.strip()) < MIN_REASON:
        raise ValueError(f"{rule}: say why ({reason!r} is too short)")
    findings = list(applies_to)
    ids = [f"{rule}[{finding}]" for finding in findings] if findings else [rule]
    Validations.of(scope).acknowledge(*(Acknowledgment(id=rule_id, reason=reason) for rule_id in ids))


def acknowledgments(root: IConstruct) -> list[tuple[str, str, str]]:
    """(construct path, rule id, reason) of every acknowledgment under ``root``."""
    found = []
    for node in root.node.find_all():
        for entry in node.node.metadata:
            if entry.type == ACKNOWLEDGED:
                for rule_id, reason in dict(entry.data or {}).items():
                    found.append((node.node.path, rule_id, reason))
    return found


def arn_of(construct: IConstruct) -> str:
    """How cdk-nag names a construct's ARN in a finding: ``<LogicalId.Arn>``."""
    element = construct.node.default_child
    assert isinstance(element, CfnElement), construct.node.path
    return f"<{Stack.of(construct).get_logical_id(element)}.Arn>"
