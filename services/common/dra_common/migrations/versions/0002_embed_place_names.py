"""re-embed datasets whose embedded text now names their countries

The embedded text of a dataset covering one to three countries now ends with the names of those countries
that it does not already mention (`dra_common.catalog.records.embedding_text`). Stored embeddings of such
datasets were computed without them: clearing them makes the ranking service (on start) or
`dra catalog embed` compute them again from the stored text. Nothing else changes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 16:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE datasets SET embedding = NULL, embedding_model = NULL "
        "WHERE embedding IS NOT NULL AND cardinality(array_remove(geography, 'global')) BETWEEN 1 AND 3"
    )


def downgrade() -> None:
    """Embeddings are derived data: the older text is not restored, the current one is embedded again."""
