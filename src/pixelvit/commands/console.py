"""The console: where the lower layers' progress (the ``pixelvit`` logger) is shown.

Below ``commands/`` nothing prints: a module reports progress with ``logging.getLogger(__name__)``
(``info`` for progress lines, ``warning`` for warnings) and returns its results. :func:`use_console`
shows those records as the bare messages, ``info`` on stdout and ``warning`` and above on stderr.
"""

from __future__ import annotations

import logging
import sys


class ConsoleHandler(logging.Handler):
    """Writes each record's message on its own line: below WARNING to ``sys.stdout``, the rest to ``sys.stderr``
    (looked up at each record, so redirected or captured streams are followed)."""

    def emit(self, record: logging.LogRecord) -> None:
        stream = sys.stderr if record.levelno >= logging.WARNING else sys.stdout
        try:
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:
            self.handleError(record)


def use_console() -> None:
    """Show the ``pixelvit`` logger's ``info`` records and above on the console (once; calling again is a no-op)."""
    logger = logging.getLogger("pixelvit")
    if not any(isinstance(h, ConsoleHandler) for h in logger.handlers):
        logger.addHandler(ConsoleHandler())
    logger.setLevel(logging.INFO)
