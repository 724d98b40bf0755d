"""The filter case table gives the same answers for records still in the log tail and for
records in slabs (issue 2), for query, delete-by-filter and after compaction."""

from __future__ import annotations

import numpy as np
import pytest

from spruce.engine.filters import parse_filter
from spruce.engine.metadata import validate_metadata
from spruce.engine.model import QuerySpec
from spruce.engine.records import Record
from tests.engine.conftest import make_index
from tests.filter_cases import ALL_IDS, CASES, RECORDS


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    from spruce.engine.builder import BuilderSettings
    from spruce.engine.local import open_local

    eng = open_local(tmp_path_factory.mktemp("filters"), settings=BuilderSettings(ann_min_rows=10**9), start=False)
    make_index(eng, dimension=2, metric="dotproduct")
    records = [Record(rid, np.array([1.0, float(i)], np.float32), metadata=validate_metadata(md))
               for i, (rid, md) in enumerate(RECORDS)]
    eng.upsert("idx", "tail", records)
    # "slabs": the same records spread over two flushed slabs with different key sets
    eng.upsert("idx", "slabs", records[:6])
    eng.flush("idx", "slabs")
    eng.upsert("idx", "slabs", records[6:])
    eng.flush("idx", "slabs")
    yield eng
    eng.close()


@pytest.mark.parametrize("case", CASES, ids=[c.description for c in CASES])
@pytest.mark.parametrize("namespace", ["tail", "slabs"])
def test_query_filter_matches_case_table(loaded, case, namespace):
    flt = parse_filter(case.filter)
    got = loaded.query("idx", namespace, QuerySpec(top_k=100, vector=np.array([1, 0], np.float32), filter=flt)).value
    assert sorted(m.id for m in got) == sorted(case.expected)


@pytest.mark.parametrize("where", ["tail", "slabs", "tail-over-slabs"])
def test_delete_by_filter_removes_exactly_the_matches(engine, where):
    make_index(engine, dimension=2, metric="dotproduct")
    records = [Record(rid, np.ones(2, np.float32), metadata=validate_metadata(md)) for rid, md in RECORDS]
    for case in CASES[::9]:
        ns = f"{where}-{case.description}"
        engine.upsert("idx", ns, records)
        if where == "slabs":
            engine.flush("idx", ns)
        engine.delete("idx", ns, filter=parse_filter(case.filter))
        if where == "tail-over-slabs":
            engine.flush("idx", ns)
        left = set(engine.fetch("idx", ns, ALL_IDS).value)
        assert left == set(ALL_IDS) - set(case.expected), case.description
        engine.compact("idx", ns, force=True)
        assert set(engine.fetch("idx", ns, ALL_IDS).value) == left
