"""report.pdf: the report's HTML printed by WeasyPrint (A4, fonts embedded, plots as vectors
when the plots have an `.svg` twin). WeasyPrint is imported only when a PDF is wanted."""

from __future__ import annotations

import logging
from pathlib import Path

from harness.base.errors import HarnessError

_log = logging.getLogger(__name__)

#: The fonts the report asks for first; `scripts/system-deps.sh` installs them.
FONT_PACKAGE = "fonts-dejavu-core"


class PdfUnavailable(HarnessError):
    """WeasyPrint (or its system libraries) is missing: the HTML report is still written."""


def write_pdf(html: str, path: Path, base_dir: Path) -> Path:
    """Print `html` to `path`; relative links resolve against `base_dir`. Raises
    PdfUnavailable naming what to install when WeasyPrint cannot be loaded."""
    try:
        import weasyprint  # type: ignore[import-untyped]
    except (ImportError, OSError) as exc:  # OSError: pango or its friends are missing
        raise PdfUnavailable(
            f"cannot write {path.name}: WeasyPrint is not usable ({exc}); install it "
            f"(`pip install 'weasyprint>=62'`, Debian libpango-1.0-0 and {FONT_PACKAGE})"
        ) from exc
    # WeasyPrint logs every CSS property it ignores at WARNING: keep the run's console clean
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    document = weasyprint.HTML(string=html, base_url=str(base_dir.resolve()) + "/")
    document.write_pdf(path)
    _log.debug("wrote %s", path)
    return path
