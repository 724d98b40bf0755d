"""Observability: alarms on every function's errors and throttles, on the index builder's lag
(stream IteratorAge) and failed batches, on failed workflow executions and on API 5xx, all sent to
one SNS topic (encrypted with a rotated KMS key CloudWatch may use; optional e-mail subscription).
Log retention is set where each log group is made (``infra/lambdas.py``)."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

PERIOD = Duration.minutes(5)


class Observability(Construct):
    def __init__(self, scope: Construct, id: str, *, functions: dict[str, lambda_.IFunction],
                 builder: lambda_.IFunction, builder_dlq: sqs.IQueue, builder_lag_s: int,
                 state_machines: dict[str, sfn.IStateMachine], api: apigw.HttpApi, alarm_email: str = "") -> None:
        super().__init__(scope, id)
        key = kms.Key(self, "AlarmTopicKey", enable_key_rotation=True,
                      description="Spruce alarm topic (CloudWatch alarms publish to it)")
        key.grant(iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*")
        self.topic = sns.Topic(self, "Alarms", master_key=key, enforce_ssl=True, display_name="Spruce alarms")
        # The topic policy replaces SNS's default one, so say who publishes: this account's alarms.
        self.topic.add_to_resource_policy(iam.PolicyStatement(
            sid="AlarmsPublish", principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["sns:Publish"], resources=[self.topic.topic_arn],
            conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}}))
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        self.alarms: dict[str, cloudwatch.Alarm] = {}

        for name, function in functions.items():
            self._alarm(f"{name}Errors", function.metric_errors(period=PERIOD, statistic="Sum"),
                        f"{name}: invocations failed")
            self._alarm(f"{name}Throttles", function.metric_throttles(period=PERIOD, statistic="Sum"),
                        f"{name}: invocations throttled")
        self._alarm("BuilderLag", builder.metric("IteratorAge", period=Duration.minutes(1), statistic="Maximum"),
                    f"index builder more than {builder_lag_s} s behind the request log",
                    threshold=builder_lag_s * 1000, evaluation_periods=5)
        self._alarm("BuilderFailedBatches", builder_dlq.metric_approximate_number_of_messages_visible(
            period=PERIOD, statistic="Maximum"), "index builder gave up on stream batches (see the queue)")
        for name, machine in state_machines.items():
            self._alarm(f"{name}ExecutionsFailed", machine.metric_failed(period=PERIOD, statistic="Sum"),
                        f"{name} workflow executions failed")
            self._alarm(f"{name}ExecutionsTimedOut", machine.metric_timed_out(period=PERIOD, statistic="Sum"),
                        f"{name} workflow executions timed out")
        self._alarm("Api5xx", api.metric_server_error(period=PERIOD, statistic="Sum"),
                    "HTTP API answered 5xx", threshold=5)

    def _alarm(self, id: str, metric: cloudwatch.IMetric, description: str, *, threshold: float = 0,
               evaluation_periods: int = 1) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self, id, metric=metric, threshold=threshold, evaluation_periods=evaluation_periods,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING, alarm_description=description)
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        self.alarms[id] = alarm
        return alarm
