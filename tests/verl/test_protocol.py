"""Batch container: indexing, column and row operations, errors, pickling."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from verl.protocol import Batch, object_array


def _batch(n: int = 4) -> Batch:
    return Batch(
        tensors={"ids": torch.arange(n * 2).reshape(n, 2), "mask": torch.ones(n, 2)},
        non_tensors={"uid": [f"u{i}" for i in range(n)], "gt": [{"boxes": [[i, i]]} for i in range(n)]},
        meta={"temperature": 1.0},
    )


def test_construction_and_inspection():
    b = _batch()
    assert len(b) == 4 and b.keys() == ["ids", "mask", "uid", "gt"]
    assert isinstance(b.non_tensors["uid"], np.ndarray) and b.non_tensors["uid"].dtype == object
    assert "gt" in b and "nope" not in b
    assert len(Batch()) == 0
    # equal-length lists stay one object per row
    assert object_array([[1, 2], [3, 4]]).shape == (2,)
    assert Batch(non_tensors={"x": [[1, 2], [3, 4], [5, 6]]}).non_tensors["x"].shape == (3,)


def test_from_mapping_splits_tensors():
    b = Batch.from_mapping({"ids": torch.zeros(2, 3), "prompt": np.array(["a", "b"], dtype=object)}, {"k": 1})
    assert list(b.tensors) == ["ids"] and list(b.non_tensors) == ["prompt"] and b.meta == {"k": 1}


@pytest.mark.parametrize("bad", [
    {"tensors": {"a": torch.zeros(3), "b": torch.zeros(2)}},
    {"tensors": {"a": torch.zeros(3)}, "non_tensors": {"b": [1, 2]}},
])
def test_length_mismatch_names_key(bad):
    with pytest.raises(ValueError, match="'b' has 2 rows but 'a' has 3"):
        Batch(**bad)


def test_bad_columns():
    with pytest.raises(ValueError, match="'s' is 0-dimensional"):
        Batch(tensors={"s": torch.tensor(1.0)})
    with pytest.raises(TypeError, match="'d' must be a numpy array or a list"):
        Batch(non_tensors={"d": {"x": 1}})


def test_getitem_rows():
    b = _batch()
    assert b[1:3].non_tensors["uid"].tolist() == ["u1", "u2"]
    for index in ([3, 0], np.array([3, 0]), torch.tensor([3, 0])):
        picked = b[index]
        assert picked["uid"].tolist() == ["u3", "u0"]
        assert picked["ids"].tolist() == [[6, 7], [0, 1]]
        assert picked.meta == {"temperature": 1.0}
    assert b[np.array([True, False, False, True])]["uid"].tolist() == ["u0", "u3"]
    assert b[torch.tensor([False, True, False, False])]["uid"].tolist() == ["u1"]
    assert len(b[[]]) == 0


def test_getitem_errors():
    b = _batch()
    with pytest.raises(TypeError, match=r"batch\[2:2 \+ 1\]"):
        b[2]
    with pytest.raises(IndexError, match="out of range"):
        b[[4]]
    with pytest.raises(IndexError, match="boolean mask"):
        b[np.array([True, False])]
    with pytest.raises(KeyError, match="no column 'x'"):
        b["x"]


def test_setitem():
    b = _batch()
    b["adv"] = torch.zeros(4, 2)
    b["uid"] = ["a", "b", "c", "d"]
    assert "adv" in b.tensors and b["uid"].tolist() == ["a", "b", "c", "d"]
    with pytest.raises(ValueError, match="column 'bad' has 3 rows but the batch has 4"):
        b["bad"] = torch.zeros(3)


def test_select_and_pop():
    b = _batch()
    sel = b.select(["ids", "uid"])
    assert sel.keys() == ["ids", "uid"] and sel.meta == b.meta
    with pytest.raises(KeyError, match=r"no columns \['zz'\]"):
        b.select(["ids", "zz"])
    popped = b.pop(["mask", "gt"])
    assert popped.keys() == ["mask", "gt"] and b.keys() == ["ids", "uid"]


def test_union():
    b = _batch()
    extra = Batch(tensors={"adv": torch.ones(4), "ids": b["ids"].clone()}, meta={"step": 3})
    u = b.union(extra)
    assert set(u.keys()) == {"ids", "mask", "uid", "gt", "adv"} and u.meta == {"temperature": 1.0, "step": 3}
    with pytest.raises(ValueError, match="tensor 'ids' differs"):
        b.union(Batch(tensors={"ids": torch.zeros(4, 2, dtype=torch.long)}))
    with pytest.raises(ValueError, match="non-tensor 'uid' differs"):
        b.union(Batch(non_tensors={"uid": ["x"] * 4}))
    with pytest.raises(ValueError, match="meta 'temperature' differs"):
        b.union(Batch(tensors={"z": torch.ones(4)}, meta={"temperature": 0.5}))
    with pytest.raises(ValueError, match="4 and 3 rows"):
        b.union(Batch(tensors={"z": torch.ones(3)}))


def test_split_and_chunk():
    b = _batch(7)
    assert [len(p) for p in b.split(3)] == [3, 3, 1]
    with pytest.raises(ValueError, match="cannot chunk 7 rows into 2"):
        b.chunk(2)
    chunks, pad = b.chunk(4, pad=True)
    assert pad == 1 and [len(c) for c in chunks] == [2, 2, 2, 2]
    assert chunks[-1]["uid"].tolist() == ["u6", "u0"]  # padding repeats the leading rows
    restored = Batch.concat(chunks)[: 8 - pad]
    assert restored["uid"].tolist() == b["uid"].tolist()
    assert [len(c) for c in _batch(6).chunk(3)] == [2, 2, 2]
    assert [len(c) for c in Batch().chunk(2)] == [0, 0]
    padded, count = _batch(2).pad_to_multiple(5)
    assert count == 3 and padded["uid"].tolist() == ["u0", "u1", "u0", "u1", "u0"]


def test_concat_checks_columns_and_merges_meta():
    a, b = _batch(2), _batch(3)
    b.meta = {"temperature": 0.5, "extra": 1}
    c = Batch.concat([a, b])
    assert len(c) == 5 and c.meta == {"temperature": 1.0, "extra": 1}
    assert c["gt"][4] == {"boxes": [[2, 2]]}
    with pytest.raises(ValueError, match=r"batch 1 has different columns \(mismatch: \['mask'\]\)"):
        Batch.concat([a, b.select(["ids", "uid", "gt"])])
    with pytest.raises(ValueError, match="at least one"):
        Batch.concat([])


def test_repeat():
    b = _batch(2)
    assert b.repeat(3)["uid"].tolist() == ["u0", "u0", "u0", "u1", "u1", "u1"]
    assert b.repeat(2, interleave=False)["ids"][:, 0].tolist() == [0, 2, 0, 2]


def test_to_and_pickle():
    b = _batch()
    moved = b.to("cpu")
    assert moved["ids"].device.type == "cpu" and moved["uid"] is b["uid"]
    if torch.cuda.is_available():
        assert b.to("cuda")["ids"].is_cuda
    clone = pickle.loads(pickle.dumps(b))
    assert torch.equal(clone["ids"], b["ids"]) and clone["gt"].tolist() == b["gt"].tolist()
    assert clone.meta == b.meta


@settings(max_examples=50, deadline=None)
@given(n=st.integers(0, 20), size=st.integers(1, 8), parts=st.integers(1, 5))
def test_split_concat_round_trip(n, size, parts):
    b = Batch(tensors={"x": torch.arange(n)}, non_tensors={"y": [str(i) for i in range(n)]})
    pieces = b.split(size)
    if pieces:
        joined = Batch.concat(pieces)
        assert joined["x"].tolist() == list(range(n)) and joined["y"].tolist() == [str(i) for i in range(n)]
    if n:
        chunks, pad = b.chunk(parts, pad=True)
        assert len(chunks) == parts and len({len(c) for c in chunks}) == 1
        assert Batch.concat(chunks)[: n]["x"].tolist() == list(range(n)) and (n + pad) % parts == 0
