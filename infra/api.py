"""API: the HTTP API in front of the planes, and the first API key.

- Routes: ``ANY /data/{proxy+}`` → data plane (every index data-plane path is ``/data/<index>/...``);
  ``$default`` → control plane (indexes, and whatever else the control-plane app serves or 404s:
  collections, backups, restore jobs, imports, inference, admin).
- Authentication happens in the apps, not in API Gateway: both routes reach the FastAPI app of
  ``spruce.api.app.create_app``, whose ``ApiKeyMiddleware`` (``spruce/api/auth.py``) checks the
  ``Api-Key`` header of every request (SHA-256 digest looked up in the catalog, acceptances
  cached 60 s per container) and answers a missing or wrong key with Pinecone's 401
  ``UNAUTHENTICATED`` body (AUTH-1). There is deliberately no API Gateway authorizer: an HTTP
  API cannot shape the responses of its authorizer (403 ``{"message":"Forbidden"}`` for a wrong
  key, 401 ``{"message":"Unauthorized"}`` for a missing one, and the SDK maps 403 to
  ForbiddenException), its decision cache kept a deleted key working for minutes, and it cost a
  Lambda hop (and cold start) per uncached key while sparing the planes only requests with no
  header at all: a flood of random keys invoked it on every request anyway. Stage throttling,
  not authentication, bounds the request rate.
- Stage ``$default`` (paths reach the apps unprefixed; index hosts follow the request Host), with
  throttling and JSON access logs. Optional custom domain.
- The first API key: generated and kept by Secrets Manager; a deploy-time custom resource stores
  its SHA-256 digest in the catalog (``infra/handlers/admin_key.py``).
"""

from __future__ import annotations

import json

import jsii
from aws_cdk import CustomResource, Duration
from aws_cdk import aws_apigateway as apigw_v1
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.config import SpruceConfig
from infra.lambdas import log_group, zip_function
from infra.nag import acknowledge
from infra.packaging import Packaging
from infra.planes import Planes
from infra.storage import Storage

DATA_ROUTE = "/data/{proxy+}"

#: HTTP API access log line (JSON; $context variables of HTTP APIs).
ACCESS_LOG_FORMAT = json.dumps({
    "requestId": "$context.requestId", "ip": "$context.identity.sourceIp", "time": "$context.requestTime",
    "method": "$context.httpMethod", "path": "$context.path", "routeKey": "$context.routeKey",
    "status": "$context.status", "protocol": "$context.protocol", "responseLength": "$context.responseLength",
    "latencyMs": "$context.responseLatency", "integrationLatencyMs": "$context.integrationLatency",
    "integrationError": "$context.integrationErrorMessage", "userAgent": "$context.identity.userAgent",
})


@jsii.implements(apigw.IAccessLogSettings)
class _AccessLogSettings:
    def __init__(self, destination: apigw.IAccessLogDestination, format: apigw_v1.AccessLogFormat) -> None:
        self._destination, self._format = destination, format

    @property
    def destination(self) -> apigw.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw_v1.AccessLogFormat:
        return self._format


class Api(Construct):
    def __init__(self, scope: Construct, id: str, *, config: SpruceConfig, planes: Planes) -> None:
        super().__init__(scope, id)
        self.http_api = apigw.HttpApi(
            self, "HttpApi", description=f"Spruce ({config.stage}): the Pinecone REST API",
            create_default_stage=False,
            default_integration=integrations.HttpLambdaIntegration("ControlPlane", planes.control_plane),
            disable_execute_api_endpoint=bool(config.domain_name))
        self.http_api.add_routes(
            path=DATA_ROUTE, methods=[apigw.HttpMethod.ANY],
            integration=integrations.HttpLambdaIntegration("DataPlane", planes.data_plane))
        acknowledge(self.http_api, "AwsSolutions-APIG4",
                    "Both routes reach the Spruce apps, which check the Api-Key header of every request and answer "
                    "Pinecone's 401 UNAUTHENTICATED body (AUTH-1); an HTTP API authorizer cannot shape its 401/403 "
                    "bodies, so it would break that rule (infra/api.py).")

        self.access_logs = log_group(self, "AccessLogs", config.log_retention_days)
        domain_mapping = None
        if config.domain_name:
            self.domain = apigw.DomainName(
                self, "Domain", domain_name=config.domain_name,
                certificate=acm.Certificate.from_certificate_arn(self, "Certificate", config.certificate_arn),
                security_policy=apigw.SecurityPolicy.TLS_1_2)
            domain_mapping = apigw.DomainMappingOptions(domain_name=self.domain)
        self.stage = apigw.HttpStage(
            self, "Stage", http_api=self.http_api, stage_name="$default", auto_deploy=True,
            throttle=apigw.ThrottleSettings(rate_limit=config.throttle_rate, burst_limit=config.throttle_burst),
            access_log_settings=_AccessLogSettings(apigw.LogGroupLogDestination(self.access_logs),
                                                   apigw_v1.AccessLogFormat.custom(ACCESS_LOG_FORMAT)),
            domain_mapping=domain_mapping)
        #: What the SDK's ``host`` is set to (index hosts are ``<url>/data/<index>``); no trailing slash.
        self.url = f"https://{config.domain_name}" if config.domain_name else self.http_api.api_endpoint



class AdminKey(Construct):
    """The first API key: a Secrets Manager secret, registered by digest at deploy time."""

    def __init__(self, scope: Construct, id: str, *, config: SpruceConfig, packaging: Packaging,
                 storage: Storage) -> None:
        super().__init__(scope, id)
        # A generated name: a deleted secret's name stays reserved for its recovery window, which
        # would block redeploying the same stage after a teardown.
        self.secret = secretsmanager.Secret(
            self, "Secret", description=f"Spruce ({config.stage}) first API key (send it as the Api-Key header)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, include_space=False, password_length=48))
        acknowledge(self.secret, "AwsSolutions-SMG4",
                    "Rotating means registering the new key's digest in the catalog first; there is no rotation "
                    "function yet, so the key is rotated by hand (README).")
        self.registrar = zip_function(
            self, "Register", packaging=packaging, handler="stack_handlers.admin_key.handler",
            description="Spruce deploy-time: register the first API key's digest in the catalog",
            memory_mb=256, timeout=Duration.minutes(1), environment=storage.environment,
            log_days=config.log_retention_days)
        self.secret.grant_read(self.registrar)
        storage.tables["catalog"].grant_write_data(self.registrar)
        self.registration = CustomResource(
            self, "Registration", service_token=self.registrar.function_arn,
            resource_type="Custom::SpruceAdminApiKey", properties={"SecretArn": self.secret.secret_arn})
