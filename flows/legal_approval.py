"""The supervisor's approval of the day's legal referrals, from a Prefect form.

Design: one run a day pauses once over the whole batch of pending referrals,
with a typed form listing one decision per referral (approve, reject with a
reason, send back for N days, or hold for tomorrow). One process waits for one
answer a day, however many referrals are pending; nothing is held open per
referral.

Why a pause and not a suspend: ``suspend_flow_run`` frees the process, but
needs a deployment, a worker to pick the resumed run up again and persisted
results, and it cannot run in-process under the embedded server or the test
harness. ``pause_flow_run`` works everywhere the daily run works; the price is
one waiting process per day. The wait is bounded by
``approval.timeout_seconds`` in config/legal.yaml; on timeout every referral of
the batch gets ``approval.default_outcome`` (``hold`` by default: it simply
comes back in the next day's batch), recorded as a default, not a decision.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from prefect import flow, get_client, get_run_logger
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run
from prefect.states import Running
from pydantic import BaseModel, Field

from dunning.legal import load_legal_config
from dunning.settings import Settings
from flows.daily_run import business_date
from tasks.operators import apply_approvals, open_approval_batch


class ReferralChoice(BaseModel):
    """The decision on one referral; the loan and DPD are there to read."""

    referral: int = Field(description="Referral number (do not change)")
    loan: str = Field(description="Loan number (do not change)")
    dpd: int = Field(description="Days past due when referred")
    decision: Literal["hold", "approve", "reject", "send-back"] = Field(
        default="hold",
        description="approve: to legal; reject: back to collection (give a "
        "reason); send-back: back to collection for N days; hold: ask tomorrow",
    )
    reason: str = Field(default="", description="Needed to reject")
    send_back_days: int | None = Field(
        default=None, ge=1, le=365, description="Needed to send back"
    )


class ApprovalForm(RunInput):
    supervisor: str = Field(min_length=1, description="Your name, for the record")
    decisions: list[ReferralChoice]


def _run_name() -> str:
    return f"legal-approval-{flow_run.parameters.get('as_of') or 'today'}"


@flow(name="legal-approval", flow_run_name=_run_name)
def legal_approval(
    as_of: date | None = None, timeout_seconds: int | None = None
) -> dict[str, Any]:
    """Ask a supervisor about every pending referral at once, then apply."""
    settings = Settings()
    day = as_of or business_date(settings)
    config = load_legal_config(settings.config_dir / "legal.yaml")
    logger = get_run_logger()
    run_id = str(flow_run.id or "")

    batch = open_approval_batch(settings, day, run_id)
    if not batch:
        logger.info("%s: no referral awaits approval", day)
        return {"asked": 0}

    form = ApprovalForm.with_initial_data(
        description=f"{len(batch)} legal referral(s) await your decision; the "
        "legal files are linked in this run's artifacts.",
        decisions=[
            ReferralChoice(referral=r["referral"], loan=r["loan"], dpd=r["dpd"])
            for r in batch
        ],
    )
    timeout = timeout_seconds or config.timeout_seconds
    logger.info("%s: %d referral(s) await approval for %ds", day, len(batch), timeout)
    try:
        answer = pause_flow_run(
            wait_for_input=form,
            timeout=timeout,
            poll_interval=min(config.poll_seconds, max(1, timeout // 2)),
            key=f"approval-{day.isoformat()}",
        )
    except FlowPauseTimeout:
        _running_again(flow_run.id)
        logger.warning(
            "%s: no answer in %ds; applying the default %r to %d referral(s)",
            day,
            timeout,
            config.default_outcome.value,
            len(batch),
        )
        defaults = [
            {
                "referral": r["referral"],
                "decision": config.default_outcome.value,
                "reason": config.default_reason,
                "send_back_days": config.default_send_back_days,
            }
            for r in batch
        ]
        result = apply_approvals(
            settings, day, defaults, "approval-timeout", run_id, by_default=True
        )
        return {"asked": len(batch), "timed_out": True, **result}

    decisions = [choice.model_dump() for choice in answer.decisions]
    asked = {r["referral"] for r in batch}
    result = apply_approvals(
        settings,
        day,
        [d for d in decisions if d["referral"] in asked],
        answer.supervisor,
        run_id,
    )
    return {"asked": len(batch), "timed_out": False, **result}


def _running_again(run_id: Any) -> None:
    # The pause timed out but the server still shows the run as paused; the
    # default outcome is applied by this same run, so it says it is running.
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(run_id, Running(), force=True)
