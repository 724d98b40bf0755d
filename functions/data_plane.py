"""Data plane router (``/data/{index}/...``): writes go to the DynamoDB log, reads merge
the log tail with the query executors' answers. FastAPI via Mangum, built once per container."""

from mangum import Mangum

from spruce.api.app import create_app
from spruce.aws.api import api_engine
from spruce.aws.inference import aws_inference
from spruce.aws.settings import AwsSettings

settings = AwsSettings.from_env()
app = create_app(api_engine(settings, reads_slabs=True), public_url=settings.public_url, planes=("data",),
                 inference_service=aws_inference(settings))
handler = Mangum(app, lifespan="off")
