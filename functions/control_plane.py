"""Control plane (indexes, keys, backups, restores): the FastAPI app behind API Gateway, via Mangum.

Everything is built at import, once per container: clients, engine, app. ``lifespan="off"``
because the app has no startup work left to run per invocation.
"""

from mangum import Mangum

from spruce.api.app import create_app
from spruce.aws.api import api_engine
from spruce.aws.inference import aws_inference
from spruce.aws.launcher import aws_job_host
from spruce.aws.settings import AwsSettings

settings = AwsSettings.from_env()
engine = api_engine(settings, reads_slabs=False)
app = create_app(engine, public_url=settings.public_url, planes=("control",), inference_service=aws_inference(settings),
                 jobs=aws_job_host(engine, settings))  # backups and restores: Step Functions executions
handler = Mangum(app, lifespan="off")
