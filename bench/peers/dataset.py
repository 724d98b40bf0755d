"""The benchmark data set: real-model 384-d vectors, held-out queries, a filter field and
exact ground truth, built once and cached under ``bench/data/peers/`` (gitignored).

Texts are Debian ``wordnet-base`` synset glosses (117,659; 117,033 unique), shuffled with a
fixed seed. The first ``queries`` glosses are the queries; the rest, in order, are the base
set. When the base set must be larger than the glosses left, the extra texts are pairs of
glosses ("gloss a; gloss b", pairs drawn with a fixed seed from all but the first
``MAX_QUERIES`` glosses, so no base text contains a query's text): still real text embedded by
the real model, not noise added to vectors. Every text is embedded with the packaged
all-MiniLM-L6-v2 (int8 ONNX, ``spruce.inference.onnx_minilm``; truncated at 254 tokens),
whose vectors are L2-normalised, so cosine = dot product.

Embeddings are cached in chunks of ``CHUNK`` rows named by their first row, so a larger run
reuses what a smaller one embedded and an interrupted run resumes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WORDNET = Path("/usr/share/wordnet")
DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "peers"
CHUNK = 10_000
SEED = 8
DIM = 384
K = 10
#: The filter field: ``cat`` uniform in [0, CATEGORIES); ``cat < t`` selects about t percent.
CATEGORIES = 100
MAX_QUERIES = 10_000  # the query pool: glosses that never appear inside a pair
SELECTIVITY = {"1%": 1, "10%": 10}
MAX_TOKENS = 254  # MiniLM's 256 minus [CLS]/[SEP], as the Inference API truncates


def wordnet_glosses() -> list[str]:
    """Unique synset glosses of WordNet 3.0 (``apt-get install wordnet-base``), file order."""
    if not (WORDNET / "data.noun").exists():
        raise SystemExit("WordNet is missing: apt-get install wordnet-base")
    seen: dict[str, None] = {}
    for pos in ("noun", "verb", "adj", "adv"):
        for line in (WORDNET / f"data.{pos}").read_text(encoding="latin-1").splitlines():
            if line.startswith("  ") or "| " not in line:
                continue  # licence header
            seen.setdefault(line.split("| ", 1)[1].strip(), None)
    return list(seen)


def texts(total: int) -> list[str]:
    """The first ``total`` texts of the data set's fixed order (queries first, then base)."""
    glosses = wordnet_glosses()
    rng = np.random.default_rng(SEED)
    order = [glosses[i] for i in rng.permutation(len(glosses))]
    extra = total - len(order)
    if extra > 0:
        pairs = np.random.default_rng(SEED + 1).integers(MAX_QUERIES, len(order), size=(extra, 2))
        order += [f"{order[a]}; {order[b]}" for a, b in pairs]
    return order[:total]


def embeddings(total: int) -> np.ndarray:
    """``total`` × 384 float32 MiniLM embeddings of ``texts(total)``, from the chunk cache."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    all_texts = texts(-(-total // CHUNK) * CHUNK)  # whole chunks, so a cached chunk is never cut short
    model = None
    parts = []
    for start in range(0, total, CHUNK):
        path = DATA_DIR / f"minilm-{start:08d}.npy"
        if not path.exists() or len(np.load(path, mmap_mode="r")) < min(CHUNK, total - start):
            if model is None:
                from spruce.inference.onnx_minilm import get  # noqa: PLC0415 - only when embedding

                model = get()
            t0 = time.monotonic()
            chunk = all_texts[start:start + CHUNK]
            ids = [t.ids[:MAX_TOKENS] for t in model.tokenize(chunk)]
            np.save(path, model.embed_ids(ids))
            print(f"embedded texts {start:,}–{start + len(chunk):,} in {time.monotonic() - t0:.0f} s", flush=True)
        parts.append(np.load(path))
    return np.concatenate(parts)[:total]


def exact_top_k(base: np.ndarray, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """Ids (row numbers) of each query's ``k`` nearest base rows by cosine, brute force in
    chunks of base rows; ``allowed`` restricts the candidates (filtered ground truth)."""
    rows = np.arange(len(base)) if allowed is None else np.flatnonzero(allowed)
    best_s = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_i = np.empty((len(queries), 0), dtype=np.int64)
    for start in range(0, len(rows), 100_000):
        part = rows[start:start + 100_000]
        s = queries @ base[part].T
        s = np.concatenate([best_s, s], axis=1)
        i = np.concatenate([best_i, np.broadcast_to(part, (len(queries), len(part)))], axis=1)
        keep = np.argpartition(-s, k - 1, axis=1)[:, :k] if s.shape[1] > k else np.argsort(-s, axis=1)
        best_s = np.take_along_axis(s, keep, axis=1)
        best_i = np.take_along_axis(i, keep, axis=1)
    order = np.argsort(-best_s, axis=1, kind="stable")
    return np.take_along_axis(best_i, order, axis=1)


@dataclass(frozen=True, slots=True)
class Dataset:
    base: np.ndarray  # n × 384 float32, unit norm
    queries: np.ndarray  # q × 384
    cats: np.ndarray  # n int64 in [0, CATEGORIES)
    truth: dict[str, np.ndarray]  # "all", "1%", "10%" → q × K row ids

    @property
    def n(self) -> int:
        return len(self.base)


def build(n: int, q: int) -> Dataset:
    """The data set of ``n`` base vectors and ``q`` queries, with ground truth (cached)."""
    if q > MAX_QUERIES:
        raise SystemExit(f"at most {MAX_QUERIES:,} queries")
    vectors = embeddings(q + n)
    queries, base = vectors[:q], vectors[q:]
    cats = np.random.default_rng(SEED + 2).integers(0, CATEGORIES, size=n)
    truth_path = DATA_DIR / f"truth-n{n}-q{q}.npz"
    if truth_path.exists():
        truth = dict(np.load(truth_path))
    else:
        t0 = time.monotonic()
        truth = {"all": exact_top_k(base, queries, K)}
        for label, below in SELECTIVITY.items():
            truth[label] = exact_top_k(base, queries, K, cats < below)
        np.savez(truth_path, **truth)
        print(f"exact ground truth in {time.monotonic() - t0:.0f} s", flush=True)
    return Dataset(base, queries, cats, truth)


def save_arrays(ds: Dataset, path: Path) -> None:
    """One file a measuring subprocess can load without rebuilding anything."""
    np.savez(path, base=ds.base, queries=ds.queries, cats=ds.cats,
             **{f"truth_{k}": v for k, v in ds.truth.items()})


def run_dir(n: int, q: int) -> Path:
    """Where a harness run of ``n`` base vectors and ``q`` queries keeps its files (``arrays.npz``)."""
    return DATA_DIR / f"run-n{n}-q{q}"


def load_run(n: int, q: int) -> Dataset:
    """The data set a harness run of ``n`` and ``q`` saved (``make bench-peers`` makes it)."""
    return load_arrays(run_dir(n, q) / "arrays.npz")


def load_arrays(path: Path) -> Dataset:
    z = np.load(path)
    truth = {k[len("truth_"):]: z[k] for k in z.files if k.startswith("truth_")}
    return Dataset(z["base"], z["queries"], z["cats"], truth)
