"""prefect.yaml agrees with the flows it deploys."""

from __future__ import annotations

import importlib.util
import inspect

import pytest
import yaml
from prefect import Flow

from dunning.settings import PROJECT_ROOT

DEPLOYMENTS = {
    d["name"]: d
    for d in yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text())["deployments"]
}


def load_flow(entrypoint: str) -> Flow:
    path, name = entrypoint.split(":")
    spec = importlib.util.spec_from_file_location("deployed", PROJECT_ROOT / path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


@pytest.mark.parametrize("name", sorted(DEPLOYMENTS))
def test_deployment_parameters_match_the_flow_signature(name):
    deployment = DEPLOYMENTS[name]
    flow = load_flow(deployment["entrypoint"])
    parameters = deployment.get("parameters") or {}

    signature = inspect.signature(flow.fn).parameters
    accepted = set(signature)
    assert set(parameters) <= accepted, f"{name}: {set(parameters) - accepted}"
    # Parameters with no default are the operator's to fill in the form; the
    # deployment must not fill them for everyone.
    required = {p for p, v in signature.items() if v.default is inspect.Parameter.empty}
    assert not required & set(parameters), f"{name}: {required & set(parameters)}"
    if required:
        with pytest.raises(Exception, match=sorted(required)[0]):
            flow.validate_parameters(parameters)
        return
    # Prefect's own validation, as the worker will do it.
    flow.validate_parameters(parameters)


def test_daily_run_is_scheduled_every_morning_in_shanghai_one_at_a_time():
    daily = DEPLOYMENTS["daily-collection-run"]

    assert daily["entrypoint"] == "flows/daily_run.py:daily_collection_run"
    assert daily["schedules"] == [
        {"cron": "30 8 * * *", "timezone": "Asia/Shanghai", "active": True}
    ]
    assert daily["concurrency_limit"]["limit"] == 1
    assert daily["work_pool"]["name"] == "dunning"
    assert "TWILIO_AUTH_TOKEN" not in (PROJECT_ROOT / "prefect.yaml").read_text()


def test_a_bad_parameter_is_refused_by_the_flow():
    flow = load_flow(DEPLOYMENTS["daily-collection-run"]["entrypoint"])

    with pytest.raises(Exception, match="as_of"):
        flow.validate_parameters({"as_of": "not a date"})
