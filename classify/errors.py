"""classify's exception tree.

    ClassifyError
    ├── CatalogError     the catalog YAML is unreadable, malformed or has an unknown key
    ├── InputError       a document cannot be read or parsed (bad JSON, CSV, encoding)
    └── MaskingError     masking cannot be done safely (unknown level, missing HMAC key)

Every message names the file, field or argument at fault; the CLI prints it on one line and
exits 2.
"""

from __future__ import annotations


class ClassifyError(Exception):
    """Base of every error classify raises on purpose."""


class CatalogError(ClassifyError):
    """The catalog cannot be used; the message names the file and the dotted field path."""


class InputError(ClassifyError):
    """A document cannot be read or parsed."""


class MaskingError(ClassifyError):
    """Masking was asked for with arguments that cannot be honoured safely."""
