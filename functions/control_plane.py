"""Control plane (indexes, keys): the FastAPI app behind API Gateway, via Mangum.

Everything is built at import, once per container: clients, engine, app. ``lifespan="off"``
because the app has no startup work left to run per invocation.
"""

from mangum import Mangum

from spruce.api.app import create_app
from spruce.aws.api import api_engine
from spruce.aws.inference import aws_inference
from spruce.aws.settings import AwsSettings

settings = AwsSettings.from_env()
app = create_app(api_engine(settings, reads_slabs=False), public_url=settings.public_url, planes=("control",),
                 inference_service=aws_inference(settings))
handler = Mangum(app, lifespan="off")
