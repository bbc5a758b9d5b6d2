"""Start-up cost of the emulator: what moto and botocore decode once instead of per session.

Measured on prod (issue 15): botocore builds one data loader per ``Session``; moto's EC2
backend creates three sessions for its region list, ``mock_aws`` resets boto3's default
session on every start, and each new loader decodes ``endpoints.json`` and the service
models again. moto also loads 1,301 public AMIs into every EC2 backend it creates.

:func:`install` (called when ``lbguard.emulator`` is imported, before moto is) makes

* every botocore ``Session`` share one loader per data path (loaders only read the
  installed JSON; its cache is keyed by service, type and API version, so sharing it
  returns exactly what a fresh loader would decode), and
* moto load only the images in ``data/images.json`` (``MOTO_AMIS_PATH``, moto's own
  switch for this), which also skips its per-region "latest AMI" lists. The images the
  shipped stacks name are listed there with their real root device; ``getAmi`` answers
  from the same file.

A caller's own ``MOTO_AMIS_PATH`` wins.
"""

from __future__ import annotations

import json
import os
import threading
from functools import cache
from pathlib import Path

IMAGES_FILE = Path(__file__).with_name("data") / "images.json"

_LOADERS: dict = {}
_LOADERS_LOCK = threading.Lock()
_INSTALLED = False


class _UniquePaths(list):
    """A loader's search paths: boto3 appends its resource path once per Session."""

    def append(self, item) -> None:  # noqa: D401
        if item not in self:
            super().append(item)


def _shared_loader(session):
    from botocore.loaders import create_loader

    path = session.get_config_variable("data_path")
    with _LOADERS_LOCK:
        loader = _LOADERS.get(path)
        if loader is None:
            loader = create_loader(path)
            loader._search_paths = _UniquePaths(loader._search_paths)
            _LOADERS[path] = loader
        return loader


def install() -> None:
    """Share botocore loaders across sessions and point moto at the small image list (idempotent)."""
    global _INSTALLED
    if _INSTALLED:
        return
    os.environ.setdefault("MOTO_AMIS_PATH", str(IMAGES_FILE))
    from botocore.session import Session

    def _register_data_loader(self) -> None:
        self._components.lazy_register_component("data_loader", lambda: _shared_loader(self))

    Session._register_data_loader = _register_data_loader
    _INSTALLED = True


@cache
def images() -> dict[str, dict]:
    """The emulator's public images by id (moto's format)."""
    return {img["ami_id"]: img for img in json.loads(IMAGES_FILE.read_text())}


_MOTO_TUNED = False


def tune_moto() -> None:
    """After moto is imported: its dispatcher lists a response class's methods with
    ``inspect.getmembers`` on every request (0.3 s of prod's 171 calls); the list of a class's
    functions does not change, so it is computed once per class (idempotent)."""
    global _MOTO_TUNED
    if _MOTO_TUNED:
        return
    from moto.core import responses, utils

    original = utils.method_names_from_class
    by_class: dict = {}

    def method_names_from_class(clazz) -> list[str]:
        names = by_class.get(clazz)
        if names is None:
            names = by_class[clazz] = tuple(original(clazz))
        return list(names)

    responses.method_names_from_class = method_names_from_class
    _lazy_symmetric_kms_keys()
    _MOTO_TUNED = True


class _LazyPrivateKey:
    """moto's stand-in private key of a symmetric KMS key, made on first use."""

    def __init__(self, make, key_spec: str):
        self._make, self._key_spec, self._key = make, key_spec, None

    def __getattr__(self, name: str):
        state = self.__dict__
        if "_make" not in state or name.startswith("__"):  # copying or pickling before __init__
            raise AttributeError(name)
        if state["_key"] is None:
            state["_key"] = state["_make"](state["_key_spec"])
        return getattr(state["_key"], name)


def _lazy_symmetric_kms_keys() -> None:
    """moto gives every KMS key an RSA-2048 private key, symmetric ones included (its
    ``generate_private_key`` falls through to RSA); KMS cannot sign or export a public key
    with a symmetric key, so that key is only made if something asks for it. EC2 creates
    such a key (the default EBS encryption key) on the first encrypted volume: 50-70 ms."""
    from moto.kms import models

    original = models.generate_private_key

    def generate_private_key(key_spec: str):
        if key_spec == "SYMMETRIC_DEFAULT":
            return _LazyPrivateKey(original, key_spec)
        return original(key_spec)

    models.generate_private_key = generate_private_key
