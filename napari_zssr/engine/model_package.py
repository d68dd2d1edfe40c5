"""Read the napari-zssr model inside a bioimage.io package (`zssr export`, `--save-model NAME.zip`).

A package exported by napari-zssr carries, besides its torchscript and state-dict weights, the
napari-zssr model file it was made from and `napari_zssr.json` (attachments; the JSON is rdf.yaml's
`config.napari_zssr`: format, the model file's name and sha256, mode, factors, ...):
`--model NAME.zip` applies that file exactly as `--model NAME.zssr` would. Anything else -- not a
zip, a damaged one, another tool's package, an attachment that does not match its checksum -- is
refused with one line (a ValueError). Standard library only: reading needs no bioimage.io packages.
"""
from __future__ import annotations

import hashlib
import json
import re
import zipfile
from pathlib import Path

CONFIG_KEY = "napari_zssr"
MODEL_FILE = "napari_zssr_model.safetensors"
INFO_FILE = "napari_zssr.json"          # rdf.yaml's config.napari_zssr, as JSON: read without YAML
PACKAGE_FORMAT = "napari-zssr-bioimageio/1"


def is_package(path) -> bool:
    """A .zip path (what packages are named), or a file that starts as a zip archive does."""
    p = Path(path)
    if p.suffix.lower() == ".zip":
        return True
    try:
        with open(p, "rb") as fh:
            return fh.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def _rdf_name(text: str) -> str:
    m = re.search(r"^name:\s*['\"]?(.*?)['\"]?\s*$", text, re.M)
    return m.group(1) if m else "?"


def package_info(path) -> dict:
    """rdf.yaml's `config.napari_zssr` of a napari-zssr package; ValueError (one line) otherwise."""
    return _read(path, with_model=False)[0]


def package_model_bytes(path) -> bytes:
    """The napari-zssr model file inside a package, checked against its sha256."""
    return _read(path, with_model=True)[1]


def _read(path, with_model: bool):
    where = str(path)
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{where}: no such model file")
    try:
        with zipfile.ZipFile(p) as zf:
            names = set(zf.namelist())
            rdf_name = next((n for n in ("rdf.yaml", "bioimageio.yaml") if n in names), None)
            if rdf_name is None:
                raise ValueError(f"{where}: not a bioimage.io package (no rdf.yaml inside)")
            info = None
            if INFO_FILE in names:
                try:
                    info = json.loads(zf.read(INFO_FILE).decode("utf-8"))
                except ValueError:
                    raise ValueError(f"{where}: damaged napari-zssr package ({INFO_FILE} is not JSON)") from None
            if not isinstance(info, dict) or info.get("format") != PACKAGE_FORMAT:
                name = _rdf_name(zf.read(rdf_name).decode("utf-8", errors="replace"))
                raise ValueError(f"{where}: the bioimage.io package {name!r} was not exported by napari-zssr; "
                                 f"--model takes only napari-zssr's own packages")
            model_name = info.get("model_file", MODEL_FILE)
            if model_name not in names:
                raise ValueError(f"{where}: damaged napari-zssr package (its model file {model_name} is missing)")
            data = zf.read(model_name) if with_model else b""
    except zipfile.BadZipFile:
        raise ValueError(f"{where}: not a readable bioimage.io package (not a zip archive, or a damaged one)") from None
    except (zipfile.LargeZipFile, OSError, KeyError, EOFError) as exc:
        raise ValueError(f"{where}: not a readable bioimage.io package ({type(exc).__name__})") from None
    if with_model:
        want = info.get("model_sha256")
        if not want or hashlib.sha256(data).hexdigest() != want:
            raise ValueError(f"{where}: damaged napari-zssr package (its model file does not match its checksum)")
    return info, data
