"""How the code reaches Lambda (measured in ``layers/README.md``).

- API functions (control plane, data plane): a zip of the package code
  (``spruce/``, ``functions/``) plus one shared dependency layer (fastapi, pydantic, mangum, orjson,
  numpy, boto3: ~84 MB unzipped, ~36 MB zipped). Both are built by *local* bundling that runs
  ``layers/build.py`` (pip with ``--platform manylinux… --only-binary=:all:``), so no Docker is
  involved; pip runs only when the stack is synthesised for a deploy and the requirements changed
  (CDK keys the bundled asset by a hash of its inputs and reuses ``cdk.out``). Tests synthesise with
  ``aws:cdk:bundling-stacks=[]``, which skips bundling and never touches the network.
- Worker functions (query executor, index builder, workflow tasks): one container image
  (``layers/worker/Dockerfile``; lancedb + pyarrow + numpy are ~441 MB, over the 250 MB zip
  limit). Synthesis only fingerprints the build context; ``cdk deploy`` builds and pushes it.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling, IgnoreMode
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from layers import build

ROOT = Path(build.ROOT)
RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.X86_64
assert RUNTIME.name == f"python{build.PYTHON_VERSION}", "layers/build.py and the Lambda runtime disagree"

#: The worker image's build context is the repository root, reduced to what the Dockerfile copies
#: (Docker ignore syntax: the last matching rule wins).
WORKER_CONTEXT_EXCLUDE = [
    "*",
    "!layers/worker", "!shared/spruce", "!functions",
    "**/__pycache__", "**/*.pyc", "**/README.md",
]
WORKER_DOCKERFILE = "layers/worker/Dockerfile"


@jsii.implements(ILocalBundling)
class _ApiLayerBundling:
    """pip-installs the API dependencies into the asset's output directory (``python/...``)."""

    def try_bundle(self, output_dir: str, *args, **kwargs) -> bool:
        subprocess.run([sys.executable, str(ROOT / "layers" / "build.py"), "api", output_dir], check=True)
        return True


@jsii.implements(ILocalBundling)
class _CodeBundling:
    """Copies ``shared/spruce`` → ``spruce/`` and ``functions/`` (what the handlers import)."""

    def try_bundle(self, output_dir: str, *args, **kwargs) -> bool:
        build.copy_code(Path(output_dir))
        return True


def _bundling(local: ILocalBundling) -> BundlingOptions:
    """Local bundling only. CDK's API requires an image, but the local bundlers never decline (they
    raise on failure), so it is never pulled; if it ever were, it says why and stops."""
    return BundlingOptions(
        local=local, image=DockerImage.from_registry("public.ecr.aws/docker/library/busybox:stable"),
        command=["sh", "-c", "echo 'Spruce bundles locally with layers/build.py, not in Docker' >&2; exit 1"])


def code_hash() -> str:
    """Hash of everything ``build.copy_code`` stages (sources only, no caches)."""
    digest = hashlib.sha256()
    for source, name in build.CODE_DIRS:
        base = ROOT / source
        for path in sorted(p for p in base.rglob("*") if p.is_file()):
            if "__pycache__" in path.parts or path.suffix == ".pyc" or path.name == "README.md":
                continue
            digest.update(f"{name}/{path.relative_to(base).as_posix()}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


class Packaging(Construct):
    """The assets every function is built from: code zip, API dependency layer, worker image."""

    def __init__(self, scope: Construct, id: str) -> None:
        super().__init__(scope, id)
        self.api_layer = lambda_.LayerVersion(
            self, "ApiDependencies",
            description="fastapi, pydantic, mangum, orjson, numpy, boto3 for the Spruce API functions",
            compatible_runtimes=[RUNTIME], compatible_architectures=[ARCHITECTURE],
            code=lambda_.Code.from_asset(
                str(ROOT / "layers" / "api"),
                # the requirements and the build script decide the layer's content
                asset_hash_type=AssetHashType.CUSTOM,
                asset_hash=_file_hash(ROOT / "layers" / "api" / "requirements.txt", ROOT / "layers" / "build.py"),
                bundling=_bundling(_ApiLayerBundling())))
        #: The function code of every zip function (handler ``functions.<name>.handler``).
        self.code = lambda_.Code.from_asset(
            str(ROOT / "functions"), asset_hash_type=AssetHashType.CUSTOM, asset_hash=code_hash(),
            bundling=_bundling(_CodeBundling()))
        #: One image for every worker; functions differ only by CMD.
        self.worker_image = ecr_assets.DockerImageAsset(
            self, "WorkerImage", directory=str(ROOT), file=WORKER_DOCKERFILE,
            exclude=WORKER_CONTEXT_EXCLUDE, ignore_mode=IgnoreMode.DOCKER,
            platform=ecr_assets.Platform.LINUX_AMD64, build_args={"PYTHON_VERSION": build.PYTHON_VERSION})

    def worker_code(self, handler: str) -> lambda_.DockerImageCode:
        """The worker image with ``handler`` (``functions.<module>.handler``) as its command."""
        return lambda_.DockerImageCode.from_ecr(self.worker_image.repository, tag_or_digest=self.worker_image.image_tag,
                                                cmd=[handler])


def _file_hash(*paths: Path) -> str:
    digest = hashlib.sha256(f"{build.PYTHON_VERSION} {' '.join(build.PLATFORMS)}".encode())
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()
