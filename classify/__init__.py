"""zonegate classify: sensitivity levels and categories for text, JSON and CSV, and masking.

Depends on nothing else of zonegate.

    from classify import Classifier
    clf = Classifier.default()
    result = clf.scan_json({"phone": "13812345678"})
    masked, result = clf.mask_json(obj, above="L3")
"""

from __future__ import annotations

# first: it decides whether the compiled hot modules or their .py sources load
from classify import _native
from classify.catalog import Catalog, load_catalog
from classify.classifier import Classifier
from classify.errors import CatalogError, ClassifyError, InputError, MaskingError
from classify.levels import LEVELS
from classify.model import Finding, ScanResult

NATIVE_MODE = _native.MODE  # "native (mypyc)" or "pure Python: <why>"

__all__ = [
    "LEVELS",
    "NATIVE_MODE",
    "Catalog",
    "CatalogError",
    "Classifier",
    "ClassifyError",
    "Finding",
    "InputError",
    "MaskingError",
    "ScanResult",
    "load_catalog",
]
