"""How an export folder is named: the manifest, the pictures, shard manifests, and which names a
manifest may list. The writer and the reader both use these (one definition)."""

from __future__ import annotations

import os

from anomaly_lab.core.errors import DataFileError

#: the manifest's name: a leading underscore makes pandas / pyarrow.dataset / HF datasets skip it
MANIFEST_NAME = "_manifest.json"
#: the name folders written before format_version 2 used (still read and resumed)
LEGACY_MANIFEST_NAME = "manifest.json"
#: the folder of preview pictures (skipped by dataset readers for its leading underscore)
PREVIEW_DIR = "_preview"


def shard_manifest_name(shard: int, num_shards: int) -> str:
    """The manifest a sharded run writes (``_manifest.shard-00000-of-00002.json``)."""
    return f"_manifest.shard-{shard:05d}-of-{num_shards:05d}.json"


def check_member_name(name: object, manifest_path: str) -> str:
    """``name`` as a file inside the manifest's folder, or a DataFileError: a manifest may name only
    plain files beside it (no absolute paths, no folders, no ``..``), so reading or resuming one never
    touches a file outside the folder."""
    if (
        not isinstance(name, str)
        or not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or os.sep in name
        or (os.altsep and os.altsep in name)
        or os.path.isabs(name)
        or "\0" in name
    ):
        raise DataFileError(
            f"{manifest_path} lists file name {name!r}; names must be plain file names inside the folder"
        )
    return name


def find_manifest(out_dir: str) -> str | None:
    """The manifest of ``out_dir``: ``_manifest.json``, else the legacy ``manifest.json``, else None."""
    for name in (MANIFEST_NAME, LEGACY_MANIFEST_NAME):
        path = os.path.join(out_dir, name)
        if os.path.isfile(path):
            return path
    return None
