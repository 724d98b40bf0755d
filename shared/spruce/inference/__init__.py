"""Inference API (BEHAVIOR §7): embed, rerank and model listing behind a model-provider port.

``models`` holds the catalogue (names, true dimensions, limits), ``ports`` the protocols a
provider implements, ``onnx_minilm`` the packaged offline implementation and ``service``
the request validation, truncation, usage accounting and errors. Nothing here imports
onnxruntime or tokenizers at import time: the provider loads them on first use.
"""
