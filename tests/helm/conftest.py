"""The `helm` fixture: a real Helm renderer, or a skip saying Helm is not installed."""

from __future__ import annotations

import pytest

from tests.helm._chart import HelmRenderer
from tests.helm._render import need_helm


@pytest.fixture
def helm() -> HelmRenderer:
    return need_helm()
