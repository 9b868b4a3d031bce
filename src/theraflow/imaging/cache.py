"""On-disk preprocessing cache keyed on content: the transform chain and the input files' bytes.

:class:`ContentCache` is MONAI's ``PersistentDataset`` with three changes:

* the transform key is :func:`theraflow.imaging.transforms.spec_key` of the chain's spec
  (``hash_transform``), so changing any parameter gives a new key and changing nothing
  reuses the entries (MONAI's ``json_hashing`` of transform objects falls back to class
  names, which would miss a changed spacing);
* the item key is the sha256 of the image and label *contents* (from the datalist), not
  their paths: a moved file is still a hit, an edited one is a miss;
* entries are written with :func:`theraflow.io.atomic_write` in the cache folder (a
  reader never sees half an entry; two jobs filling one cache do not corrupt it) and read
  with ``torch.load(weights_only=True)``; an unreadable entry is recomputed.

Layout: ``<cache>/<chain key[:16]>/<item key>.pt`` plus ``spec.json`` describing the chain.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from copy import deepcopy
from pathlib import Path

import torch
from monai.data import PersistentDataset
from monai.utils import convert_to_tensor

from theraflow.imaging.transforms import Spec, build, spec_key
from theraflow.io import InputError, atomic_write, write_json

log = logging.getLogger(__name__)


def item_key(item: dict) -> str:
    """sha256 over the contents of an item's files (falls back to the path where no digest is known)."""
    parts = []
    for key in ("image", "label"):
        if key in item:
            parts.append(f"{key}={item.get(f'sha256_{key}') or 'path:' + str(item[key])}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _item_hash(item: dict) -> bytes:
    return item_key(item).encode()


class _ChainHash:
    """``hash_transform`` for MONAI: the spec key, whatever transform objects it is shown."""

    def __init__(self, key: str):
        self.key = key

    def __call__(self, _transforms) -> bytes:
        return self.key.encode()


class ContentCache(PersistentDataset):
    """A ``PersistentDataset`` over ``items`` with the chain built from ``spec`` (see the module doc)."""

    def __init__(self, items: Sequence[dict], spec: Spec, cache_dir: str | Path):
        self.spec = spec
        self.chain_key = spec_key(spec)
        folder = Path(cache_dir) / self.chain_key[:16]
        super().__init__(data=list(items), transform=build(spec), cache_dir=folder,
                         hash_func=_item_hash, hash_transform=_ChainHash(self.chain_key),
                         track_meta=False, weights_only=True)
        self.hits = 0
        self.misses = 0
        spec_file = folder / "spec.json"
        if not spec_file.exists():
            write_json(spec_file, {"key": self.chain_key, "spec": spec})

    def entry(self, item: dict) -> Path:
        return self.cache_dir / f"{item_key(item)}.pt"

    def cached(self, item: dict) -> bool:
        return self.entry(item).is_file()

    def _cachecheck(self, item_transformed):
        path = self.entry(item_transformed)
        if path.is_file():
            try:
                out = torch.load(path, weights_only=True)
                self.hits += 1
                return out
            except Exception as exc:  # truncated by a crash elsewhere, or written by another version
                log.warning("%s: unreadable cache entry (%s); recomputing", path, exc)
                path.unlink(missing_ok=True)
        try:
            out = self._pre_transform(deepcopy(item_transformed))
        except Exception as exc:  # a file that changed or vanished since the datalist checked it
            cause = exc.__cause__ or exc
            raise InputError(f"case {item_transformed.get('id', '?')}: cannot be preprocessed "
                             f"({item_transformed.get('image')}: {type(cause).__name__}: {cause})") from exc
        out = convert_to_tensor(out, convert_numeric=False, track_meta=False)
        with atomic_write(path, "wb") as fh:
            torch.save(out, fh)
        self.misses += 1
        return out


class Augmented(torch.utils.data.Dataset):
    """Applies a random chain to the items of a (cached) dataset; ``transform`` is seeded per worker by MONAI."""

    def __init__(self, base, transform):
        self.base = base
        self.transform = transform

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index):
        from monai.data import get_track_meta, set_track_meta

        before = get_track_meta()
        set_track_meta(False)  # plain tensors: MetaTensor bookkeeping costs more than a flip here
        try:
            out = self.transform(self.base[index])
        finally:
            set_track_meta(before)
        if isinstance(out, list):  # RandCropByPosNegLabeld returns a list of samples
            out = out[0]
        return out


def describe(cache_dir: str | Path) -> list[dict]:
    """The chains held in a cache folder: key, entries and size."""
    out = []
    for folder in sorted(p for p in Path(cache_dir).glob("*") if p.is_dir()):
        spec_file = folder / "spec.json"
        spec = json.loads(spec_file.read_text()) if spec_file.exists() else {}
        files = list(folder.glob("*.pt"))
        out.append({"chain": folder.name, "key": spec.get("key", ""), "entries": len(files),
                    "bytes": sum(f.stat().st_size for f in files)})
    return out
