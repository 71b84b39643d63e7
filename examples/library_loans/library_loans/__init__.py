"""A second agentcore domain, nothing like the demo shop: a public library's loans.

Members (the customers) borrow books; a loan has a due date, renewals left and
a fine in cents. The agent may look a loan up, renew it (at most twice, not
once it is more than a week overdue) and waive up to $5.00 of its fine; above
that a librarian approves, or overrides. Its data is a SQLite file of its own,
`library.sqlite` beside the engine's database, seeded deterministically.

    agentcore --domain library_loans:create ask "when is loan 1001 due?" --customer 1
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from library_loans._domain import INTENTS, LibraryDomain

if TYPE_CHECKING:
    from agentcore.settings import Settings

__all__ = ["DATABASE", "INTENTS", "LibraryDomain", "create"]

DATABASE = "library.sqlite"


def create(settings: Settings) -> LibraryDomain:
    """The domain factory `--domain library_loans:create` names."""
    return LibraryDomain(settings.data_dir / DATABASE)
