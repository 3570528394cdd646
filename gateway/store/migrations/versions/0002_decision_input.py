"""The decision index keeps the policy revision and the (masked) input of each decision.

With the input beside the outcome, the control plane can re-decide what a gateway decided
(shadow mode, replay) without the gateway's decision log file.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("revision", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("input", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("input")
        batch.drop_column("revision")
