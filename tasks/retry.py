"""When a failed task is worth running again."""

from __future__ import annotations

from typing import Any

from dunning.errors import DunningError


def unless_refused(task: Any, task_run: Any, state: Any) -> bool:
    """Retry what may pass next time (a locked database, a lost connection).

    An error dunning raised on purpose (a refused date, a bad config line) will
    be raised again, so retrying it only delays the message.
    """
    try:
        state.result()
    except DunningError:
        return False
    except Exception:
        return True
    return True
