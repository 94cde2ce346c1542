"""Bringing a lender's records into the store: canonical bundles and adapters.

Importers write through the caller's session and never commit. Rows that
cannot be imported become rejects (also written to ``rejects.csv``); a file
that cannot be read at all raises ``ImportFileError``.
"""

from dunning.importing.canonical import import_canonical
from dunning.importing.common import Counts, ImportFileError, ImportReport, Reject
from dunning.importing.home_credit import HomeCreditConfig, import_home_credit

__all__ = [
    "Counts",
    "HomeCreditConfig",
    "ImportFileError",
    "ImportReport",
    "Reject",
    "import_canonical",
    "import_home_credit",
]
