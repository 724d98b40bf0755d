"""Metadata filter cases shared by the unit, engine and end-to-end tests (BEHAVIOR §5).

``RECORDS`` are upsert-ready ``(id, metadata)`` pairs; metadata is given as a user would
send it (ints as ints). ``CASES`` are ``(description, filter, expected ids)``: every path
that filters records — the Python evaluator, the LanceDB prefilter, the API — must return
exactly those ids. ``INVALID_FILTERS`` are ``(description, filter, mentions)``: each must
be rejected with 400 INVALID_ARGUMENT and a message containing ``mentions``.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class FilterCase(NamedTuple):
    description: str
    filter: dict[str, Any]
    expected: list[str]


class InvalidFilter(NamedTuple):
    description: str
    filter: Any
    mentions: str


RECORDS: list[tuple[str, dict[str, Any] | None]] = [
    ("r01", {"genre": ["comedy", "documentary"]}),  # the §5.3 worked example
    ("r02", {"genre": "drama", "year": 2020, "rating": 8.5, "draft": False, "tags": ["a", "b"]}),
    ("r03", {"genre": "documentary", "year": 2019.0, "rating": 7, "draft": True, "tags": []}),
    ("r04", {"genre": "comedy", "year": "2020", "draft": True, "tags": ["a"]}),
    ("r05", {"genre": ["drama", "action"], "year": 2021, "rating": -1.5}),
    ("r06", None),
    ("r07", {"genre": "action", "year": 2018, "rating": 0, "flag": 1}),
    ("r08", {"genre": "comedy drama", "odd key": "x y", "dotted.key": 3, "quote'key": "it's", "ünï": "çødé"}),
    ("r09", {"year": True, "flag": True, "tags": ["c", "it's"]}),
    ("r10", {"genre": "", "year": 2020.5, "rating": 10.0, "big": 1e300, "draft": False}),
    ("r11", {"genre": [], "flag": False, "note": "back\\slash"}),
    ("r12", {"rating": -0.0, "year": 2020, "tags": ["b", "a"], "note": "line1\nline2 '%_'"}),
]

ALL_IDS = [rid for rid, _ in RECORDS]

_GENRE_NE_COMEDY = ["r02", "r03", "r05", "r07", "r08", "r10", "r11"]


def _chain(levels: int) -> dict[str, Any]:
    """``levels`` nested ``$or``s, each inside an implicit AND, the deep clause last: the
    shape that nests SQL the most. Matches what ``{"genre": "drama"}`` matches."""
    flt: dict[str, Any] = {"genre": "drama"}
    for level in range(levels):
        if level % 2:
            flt = {"genre": {"$exists": True}, "$or": [{"genre": "zzz"}, flt]}
        else:
            flt = {"$or": [{"year": "zzz"}, flt]}
    return flt


def _balanced(levels: int) -> dict[str, Any]:
    """A full binary tree of alternating ``$and``/``$or`` over one compound-SQL leaf."""
    flt: dict[str, Any] = {"genre": {"$ne": "comedy"}}
    for level in range(levels):
        flt = {"$and" if level % 2 else "$or": [flt, flt]}
    return flt


CASES: list[FilterCase] = [
    # $eq and shorthand, including list fields (§5.3)
    FilterCase("shorthand string matches scalar and list element", {"genre": "comedy"}, ["r01", "r04"]),
    FilterCase("$eq string", {"genre": {"$eq": "documentary"}}, ["r01", "r03"]),
    FilterCase("shorthand matches list element", {"genre": "drama"}, ["r02", "r05"]),
    FilterCase("$eq empty string", {"genre": ""}, ["r10"]),
    FilterCase("$eq is case-sensitive", {"genre": {"$eq": "Comedy"}}, []),
    FilterCase("$eq whole string, not a word", {"genre": "comedy drama"}, ["r08"]),
    FilterCase("$eq number given as int", {"year": 2020}, ["r02", "r12"]),
    FilterCase("$eq number given as float", {"year": {"$eq": 2020.0}}, ["r02", "r12"]),
    FilterCase("$eq string does not match number", {"year": {"$eq": "2020"}}, ["r04"]),
    FilterCase("$eq bool does not match number", {"year": True}, ["r09"]),
    FilterCase("$eq 1 does not match true", {"flag": 1}, ["r07"]),
    FilterCase("$eq true does not match 1", {"flag": True}, ["r09"]),
    FilterCase("$eq false does not match 0", {"flag": {"$eq": False}}, ["r11"]),
    FilterCase("$eq 0 matches -0.0", {"rating": 0}, ["r07", "r12"]),
    FilterCase("$eq bool", {"draft": False}, ["r02", "r10"]),
    FilterCase("$eq string 'false' is not a bool", {"draft": {"$eq": "false"}}, []),
    FilterCase("$eq on list of strings", {"tags": "a"}, ["r02", "r04", "r12"]),
    FilterCase("$eq with quote in value", {"tags": "it's"}, ["r09"]),
    FilterCase("$eq huge float", {"big": 1e300}, ["r10"]),
    FilterCase("$eq backslash is literal", {"note": "back\\slash"}, ["r11"]),
    FilterCase("$eq newline and LIKE wildcards are literal", {"note": "line1\nline2 '%_'"}, ["r12"]),
    FilterCase("$eq on missing field", {"missing": "x"}, []),
    # odd keys
    FilterCase("key with space", {"odd key": "x y"}, ["r08"]),
    FilterCase("key with dot", {"dotted.key": 3}, ["r08"]),
    FilterCase("key with quote", {"quote'key": "it's"}, ["r08"]),
    FilterCase("unicode key and value", {"ünï": {"$in": ["çødé"]}}, ["r08"]),
    # $ne
    FilterCase("$ne excludes list containing value and missing field", {"genre": {"$ne": "comedy"}}, _GENRE_NE_COMEDY),
    FilterCase("$ne empty string", {"genre": {"$ne": ""}}, ["r01", "r02", "r03", "r04", "r05", "r07", "r08", "r11"]),
    FilterCase("$ne number: other types count as not equal", {"year": {"$ne": 2020}},
               ["r03", "r04", "r05", "r07", "r09", "r10"]),
    FilterCase("$ne true: 1 and false are not equal", {"flag": {"$ne": True}}, ["r07", "r11"]),
    FilterCase("$ne bool", {"draft": {"$ne": False}}, ["r03", "r04"]),
    FilterCase("$ne on lists, empty list included", {"tags": {"$ne": "a"}}, ["r03", "r09"]),
    FilterCase("$ne number on list field", {"tags": {"$ne": 5}}, ["r02", "r03", "r04", "r09", "r12"]),
    FilterCase("$ne number", {"rating": {"$ne": 7}}, ["r02", "r05", "r07", "r10", "r12"]),
    FilterCase("$ne on missing field matches nothing (FLT-10)", {"missing": {"$ne": "x"}}, []),
    # ranges
    FilterCase("$gt", {"year": {"$gt": 2019}}, ["r02", "r05", "r10", "r12"]),
    FilterCase("$gte", {"year": {"$gte": 2019}}, ["r02", "r03", "r05", "r10", "r12"]),
    FilterCase("$lt", {"year": {"$lt": 2020}}, ["r03", "r07"]),
    FilterCase("$lte", {"year": {"$lte": 2020}}, ["r02", "r03", "r07", "r12"]),
    FilterCase("range with two operators (implicit AND)", {"year": {"$gte": 2019, "$lt": 2021}},
               ["r02", "r03", "r10", "r12"]),
    FilterCase("range with float bounds", {"year": {"$gt": 2020.25, "$lte": 2020.5}}, ["r10"]),
    FilterCase("$lt 0 excludes -0.0", {"rating": {"$lt": 0}}, ["r05"]),
    FilterCase("$gte/$lte inclusive", {"rating": {"$gte": 7, "$lte": 8.5}}, ["r02", "r03"]),
    FilterCase("$gt on floats", {"rating": {"$gt": 7}}, ["r02", "r10"]),
    FilterCase("$gt skips bools", {"flag": {"$gt": 0}}, ["r07"]),
    FilterCase("range never matches strings", {"genre": {"$gte": 0}}, []),
    FilterCase("range never matches lists", {"tags": {"$gt": -1}}, []),
    FilterCase("range on huge float", {"big": {"$gte": 1e300}}, ["r10"]),
    FilterCase("range on missing field", {"missing": {"$lt": 1}}, []),
    # $in / $nin
    FilterCase("$in strings over scalars and lists", {"genre": {"$in": ["documentary", "action"]}},
               ["r01", "r03", "r05", "r07"]),
    FilterCase("$in §5.3 worked example, records without a year",
               {"genre": {"$in": ["documentary", "action"]}, "year": {"$exists": False}}, ["r01"]),
    FilterCase("$in mixed number and string", {"year": {"$in": [2019, "2020"]}}, ["r03", "r04"]),
    FilterCase("$in bool", {"year": {"$in": [True]}}, ["r09"]),
    FilterCase("$in number and bool", {"flag": {"$in": [1, False]}}, ["r07", "r11"]),
    FilterCase("$in 0 does not match false", {"flag": {"$in": [0]}}, []),
    FilterCase("$in both bools", {"draft": {"$in": [True, False]}}, ["r02", "r03", "r04", "r10"]),
    FilterCase("$in on lists", {"tags": {"$in": ["b", "c"]}}, ["r02", "r09", "r12"]),
    FilterCase("$in string list with non-strings", {"genre": {"$in": ["comedy", 2020, True]}}, ["r01", "r04"]),
    FilterCase("$in empty list matches nothing", {"genre": {"$in": []}}, []),
    FilterCase("$nin string", {"genre": {"$nin": ["drama"]}}, ["r01", "r03", "r04", "r07", "r08", "r10", "r11"]),
    FilterCase("$nin on lists, empty list included", {"tags": {"$nin": ["a", "b"]}}, ["r03", "r09"]),
    FilterCase("$nin numbers", {"rating": {"$nin": [0, 10]}}, ["r02", "r03", "r05"]),
    FilterCase("$nin mixed types", {"year": {"$nin": [2020, "2020", True]}}, ["r03", "r05", "r07", "r10"]),
    FilterCase("$nin both bools", {"flag": {"$nin": [True, False]}}, ["r07"]),
    FilterCase("$nin empty list matches records with the field", {"genre": {"$nin": []}},
               ["r01", "r02", "r03", "r04", "r05", "r07", "r08", "r10", "r11"]),
    FilterCase("$nin on missing field matches nothing (FLT-10)", {"missing": {"$nin": ["x"]}}, []),
    # $exists
    FilterCase("$exists true, empty list included", {"genre": {"$exists": True}},
               ["r01", "r02", "r03", "r04", "r05", "r07", "r08", "r10", "r11"]),
    FilterCase("$exists false", {"genre": {"$exists": False}}, ["r06", "r09", "r12"]),
    FilterCase("$exists true on list field", {"tags": {"$exists": True}}, ["r02", "r03", "r04", "r09", "r12"]),
    FilterCase("$exists false on number field", {"rating": {"$exists": False}},
               ["r01", "r04", "r06", "r08", "r09", "r11"]),
    FilterCase("$exists false on missing field", {"missing": {"$exists": False}}, ALL_IDS),
    FilterCase("$exists true on missing field", {"missing": {"$exists": True}}, []),
    FilterCase("$exists with another operator", {"year": {"$exists": True, "$ne": 2020}},
               ["r03", "r04", "r05", "r07", "r09", "r10"]),
    # implicit AND, $and, $or
    FilterCase("two fields (implicit AND)", {"genre": "comedy", "year": "2020"}, ["r04"]),
    FilterCase("field and range", {"genre": "drama", "year": {"$gte": 2020}}, ["r02", "r05"]),
    FilterCase("$eq and $ne on one field", {"genre": {"$eq": "comedy", "$ne": "documentary"}}, ["r04"]),
    FilterCase("$and §5.3: each clause matches some element",
               {"$and": [{"genre": "comedy"}, {"genre": "documentary"}]}, ["r01"]),
    FilterCase("$and §5.3: no element equals drama", {"$and": [{"genre": "comedy"}, {"genre": "drama"}]}, []),
    FilterCase("$and of contradictions", {"$and": [{"genre": {"$exists": True}}, {"genre": {"$exists": False}}]}, []),
    FilterCase("$or", {"$or": [{"genre": "action"}, {"year": {"$lt": 2019}}]}, ["r05", "r07"]),
    FilterCase("$or of $ne/$nin on missing fields (FLT-10)",
               {"$or": [{"missing": {"$ne": 1}}, {"other": {"$nin": ["x"]}}]}, []),
    FilterCase("$or with $exists false", {"$or": [{"year": {"$exists": False}}, {"year": {"$lt": 2019}}]},
               ["r01", "r06", "r07", "r08", "r11"]),
    FilterCase("$and of $ors",
               {"$and": [{"$or": [{"genre": "comedy"}, {"genre": "drama"}]},
                         {"$or": [{"year": {"$gte": 2020}}, {"draft": True}]}]}, ["r02", "r04", "r05"]),
    FilterCase("$or of $ands",
               {"$or": [{"$and": [{"tags": "a"}, {"draft": False}]},
                        {"$and": [{"rating": {"$lt": 0}}, {"genre": {"$in": ["drama"]}}]}]}, ["r02", "r05"]),
    FilterCase("single-clause nesting", {"$and": [{"$or": [{"$and": [{"genre": "drama"}]}]}]}, ["r02", "r05"]),
    FilterCase("$and beside a field", {"$and": [{"genre": "drama"}], "year": 2021}, ["r05"]),
    FilterCase("$and beside $or", {"$or": [{"genre": "drama"}], "$and": [{"rating": {"$gt": 0}}]}, ["r02"]),
    FilterCase("$or with an always-true branch", {"$or": [{"missing": {"$exists": False}}, {"genre": "x"}]}, ALL_IDS),
    FilterCase("ten levels, chained", _chain(10), ["r02", "r05"]),
    FilterCase("ten levels, balanced", _balanced(10), _GENRE_NE_COMEDY),
]

INVALID_FILTERS: list[InvalidFilter] = [
    InvalidFilter("filter is a list", [{"genre": "drama"}], "JSON object"),
    InvalidFilter("filter is a string", "genre = 'drama'", "JSON object"),
    InvalidFilter("list as a field value (FLT-7)", {"genre": ["comedy", "documentary"]}, "$in"),
    InvalidFilter("list as $eq argument (FLT-7)", {"genre": {"$eq": ["comedy", "documentary"]}}, "$eq"),
    InvalidFilter("list as $ne argument", {"genre": {"$ne": ["comedy"]}}, "$ne"),
    InvalidFilter("comparison operator at top level", {"$gt": 5}, "$gt"),
    InvalidFilter("$eq at top level", {"$eq": "drama"}, "$eq"),
    InvalidFilter("$exists at top level", {"$exists": True}, "$exists"),
    InvalidFilter("unknown top-level operator", {"$not": {"genre": "drama"}}, "$not"),
    InvalidFilter("field name starting with $", {"$genre": "drama"}, "$genre"),
    InvalidFilter("unknown field operator", {"genre": {"$regex": "dr.*"}}, "$regex"),
    InvalidFilter("$and inside a field", {"genre": {"$and": [{"$eq": "drama"}]}}, "$and"),
    InvalidFilter("nested object instead of operators", {"genre": {"name": "drama"}}, "name"),
    InvalidFilter("empty operator object", {"genre": {}}, "genre"),
    InvalidFilter("empty field name", {"": "drama"}, "empty"),
    InvalidFilter("null field value", {"genre": None}, "null"),
    InvalidFilter("null $eq argument", {"genre": {"$eq": None}}, "null"),
    InvalidFilter("object as $eq argument", {"genre": {"$eq": {"$eq": "drama"}}}, "$eq"),
    InvalidFilter("string range argument", {"year": {"$gt": "2019"}}, "$gt"),
    InvalidFilter("bool range argument", {"year": {"$gte": True}}, "$gte"),
    InvalidFilter("null range argument", {"year": {"$lt": None}}, "$lt"),
    InvalidFilter("list range argument", {"year": {"$lte": [2019]}}, "$lte"),
    InvalidFilter("NaN argument", {"year": {"$eq": float("nan")}}, "finite"),
    InvalidFilter("infinite range argument", {"year": {"$lt": float("inf")}}, "finite"),
    InvalidFilter("integer too large for float64", {"year": {"$eq": 10**400}}, "too large"),
    InvalidFilter("$in with a string", {"genre": {"$in": "comedy"}}, "$in"),
    InvalidFilter("$nin with an object", {"genre": {"$nin": {"a": 1}}}, "$nin"),
    InvalidFilter("$in with a nested list", {"genre": {"$in": [["comedy"]]}}, "$in"),
    InvalidFilter("$in with null", {"genre": {"$in": ["comedy", None]}}, "null"),
    InvalidFilter("$nin with an object value", {"genre": {"$nin": [{"a": 1}]}}, "$nin"),
    InvalidFilter("$in over 10,000 values", {"genre": {"$in": [str(i) for i in range(10_001)]}}, "10000"),
    InvalidFilter("$exists with a string", {"genre": {"$exists": "yes"}}, "$exists"),
    InvalidFilter("$exists with a number", {"genre": {"$exists": 1}}, "$exists"),
    InvalidFilter("$and with an object", {"$and": {"genre": "drama"}}, "$and"),
    InvalidFilter("$or with an empty list", {"$or": []}, "$or"),
    InvalidFilter("$and with a string clause", {"$and": ["genre"]}, "$and"),
    InvalidFilter("$or with an empty clause", {"$or": [{}]}, "$or"),
    InvalidFilter("invalid clause deep inside", {"$and": [{"$or": [{"year": {"$gt": "x"}}]}]}, "$gt"),
    InvalidFilter("eleven levels of $and/$or", _chain(11), "10 levels"),
]
