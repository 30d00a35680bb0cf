"""The static HTML report (``repro report``): verdicts, figures, run metadata and performance history.

It reads run records only (plus the catalog list its caller passes), never a paper's code.
"""

from repro.report.site import build_site

__all__ = ["build_site"]
