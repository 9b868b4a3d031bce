"""The preprocessing cache is keyed on the transform chain and the files' contents."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from theraflow.imaging import make_datalist, preprocess
from theraflow.imaging.cache import ContentCache
from theraflow.imaging.datalists import items
from theraflow.imaging.transforms import preprocess_spec, spec_key

from .helpers import TINY_MODEL


@pytest.fixture()
def datalist(blob_dataset):
    return make_datalist(images=blob_dataset / "images", labels=blob_dataset / "labels", label_values=[0, 1, 2])[0]


def test_unchanged_chain_reuses_the_cache(datalist, tmp_path):
    stats, table = preprocess(datalist, tmp_path, model_config=TINY_MODEL)
    assert (stats["hits"], stats["misses"]) == (0, 6)
    stats, table = preprocess(datalist, tmp_path, model_config=TINY_MODEL)
    assert (stats["hits"], stats["misses"]) == (6, 0)
    assert table["cached"].all()


@pytest.mark.parametrize("override", [{"preprocess.spacing": [1.0, 1.0, 1.0]}, {"preprocess.intensity": "minmax"},
                                      {"preprocess.pad_to": [40, 40, 16]}, {"preprocess.orientation": "LPS"}])
def test_changed_transform_parameter_invalidates(datalist, tmp_path, override):
    preprocess(datalist, tmp_path, model_config=TINY_MODEL)
    stats, _ = preprocess(datalist, tmp_path, model_config=TINY_MODEL, overrides=override)
    assert (stats["hits"], stats["misses"]) == (0, 6)
    # and the first chain's entries are still there for whoever uses it again
    stats, _ = preprocess(datalist, tmp_path, model_config=TINY_MODEL)
    assert stats["hits"] == 6


def test_content_keyed_not_path_keyed(datalist, blob_dataset, tmp_path):
    spec = preprocess_spec({"orientation": "RAS", "intensity": "zscore"})
    ContentCache(items(datalist), spec, tmp_path / "c")[0]
    moved = tmp_path / "moved"
    shutil.copytree(blob_dataset, moved)
    copy = datalist.copy()
    copy["image"] = copy["image"].str.replace(str(blob_dataset), str(moved))
    copy["label"] = copy["label"].str.replace(str(blob_dataset), str(moved))
    ds = ContentCache(items(copy), spec, tmp_path / "c")
    ds[0]
    assert (ds.hits, ds.misses) == (1, 0)  # same bytes elsewhere: a hit
    edited = copy.copy()
    edited.loc[0, "image_sha256"] = "0" * 64  # what the datalist records after the file changed
    ds = ContentCache(items(edited), spec, tmp_path / "c")
    ds[0]
    assert (ds.hits, ds.misses) == (0, 1)


def test_corrupt_entry_is_recomputed(datalist, tmp_path):
    spec = preprocess_spec({"orientation": "RAS", "intensity": "zscore"})
    ds = ContentCache(items(datalist), spec, tmp_path)
    first = ds[0]
    ds.entry(ds.data[0]).write_bytes(b"not a torch file")
    again = ContentCache(items(datalist), spec, tmp_path)
    second = again[0]
    assert again.misses == 1
    assert (first["image"] == second["image"]).all()


def test_spec_key_is_stable_across_processes():
    spec = preprocess_spec({"orientation": "RAS", "spacing": [1, 1, 2], "intensity": "zscore"})
    code = ("from theraflow.imaging.transforms import preprocess_spec, spec_key;"
            "print(spec_key(preprocess_spec({'orientation': 'RAS', 'spacing': [1, 1, 2], 'intensity': 'zscore'})))")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert other == spec_key(spec)


def test_vanished_file_names_the_case(datalist, tmp_path):
    from theraflow.io import InputError

    gone = datalist.copy()
    gone.loc[0, "image"] = str(tmp_path / "missing.nii.gz")
    gone.loc[0, "image_sha256"] = "1" * 64
    ds = ContentCache(items(gone), preprocess_spec({"orientation": "RAS"}), tmp_path / "c")
    with pytest.raises(InputError, match="case case_00: cannot be preprocessed .*missing.nii.gz"):
        ds[0]
