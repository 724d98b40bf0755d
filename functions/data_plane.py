"""Data plane router (``/data/{index}/...``): writes go to the DynamoDB log, reads merge
the log tail with the query executors' answers. FastAPI via Mangum, built once per container."""

from mangum import Mangum

from spruce.api.app import create_app
from spruce.aws.api import api_engine
from spruce.aws.inference import aws_inference
from spruce.aws.launcher import aws_job_host
from spruce.aws.settings import AwsSettings

settings = AwsSettings.from_env()
engine = api_engine(settings, reads_slabs=True)
app = create_app(engine, public_url=settings.public_url, planes=("data",), inference_service=aws_inference(settings),
                 jobs=aws_job_host(engine, settings))  # bulk imports/exports: Step Functions executions
handler = Mangum(app, lifespan="off")
