"""The playbook as data, and the decision of what happens to a case today.

``plan_day`` is the whole decision: a plain function over plain values that
returns the steps to take and, for each step held back, the reason why. The
ledger stores both, so "why was nobody called?" has an answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from dunning.errors import ConfigError

BORROWER = "borrower"
CONTACT_KINDS = ("call", "sms", "visit", "notice", "guarantor_contact")
KINDS = (*CONTACT_KINDS, "legal_referral")

# Skip reasons are values the ledger stores.
REFERRED = "referred-to-legal"
PROMISE_PENDING = "promise-pending"


def guarantor_target(guarantor_id: str) -> str:
    return f"guarantor:{guarantor_id}"


@dataclass(frozen=True)
class Rule:
    name: str
    kind: str
    template: str
    target: str = BORROWER  # or "guarantors": one step per guarantor
    on_dpd: frozenset[int] = frozenset()
    from_dpd: int | None = None
    to_dpd: int | None = None
    every_days: int = 1
    purpose: str = ""
    # A step fixed to a day (a notice at DPD 7) still happens when that day was
    # missed: a case first seen late, or a day without a run.
    catch_up: bool = True

    def missed(self, dpd: int, done_rules: frozenset[str]) -> bool:
        """A fixed-day step whose day has passed without it."""
        return (
            self.catch_up
            and self.name not in done_rules
            and any(day < dpd for day in self.on_dpd)
        )

    def applies(self, dpd: int) -> bool:
        if self.on_dpd:
            return dpd in self.on_dpd
        if self.from_dpd is None or dpd < self.from_dpd:
            return False
        if self.to_dpd is not None and dpd > self.to_dpd:
            return False
        return (dpd - self.from_dpd) % self.every_days == 0


@dataclass(frozen=True)
class ProductTerms:
    penalty_daily_rate: Decimal
    legal_threshold_dpd: int


@dataclass(frozen=True)
class Playbook:
    min_overdue_amount: Decimal
    blacklist_threshold_dpd: int
    promise_grace_days: int
    promise_suspends: frozenset[str]
    broken_visit_purpose: str
    legal_template: str
    refer_at_once_reasons: frozenset[str]
    products: Mapping[str, ProductTerms]
    rules: tuple[Rule, ...]
    visit_template: str = "visit/sheet.html"
    # How far ahead an officer may accept a promise to pay.
    promise_max_days: int = 30

    def terms(self, product: str) -> ProductTerms:
        return self.products.get(product, self.products["default"])


@dataclass(frozen=True)
class CaseView:
    """What the decision needs to know of a case on the day."""

    case_id: int | None
    loan_id: str
    product: str
    dpd: int
    guarantor_ids: tuple[str, ...] = ()
    in_legal: bool = False
    reason: str = "unknown"
    # The promised date of a promise still pending, if any.
    promise_due: date | None = None
    promise_broken_today: bool = False
    # Rules the ledger already holds an action of for this case.
    done_rules: frozenset[str] = frozenset()
    # A referral awaiting a supervisor: automated contact has stopped.
    referral_pending: bool = False
    # A referral rejected or sent back: the playbook does not refer again.
    referral_held: bool = False
    # An installment agreement was broken: refer without waiting for the DPD.
    agreement_broken: bool = False


@dataclass(frozen=True)
class Step:
    kind: str
    target: str
    rule: str
    template: str
    purpose: str = ""


@dataclass(frozen=True)
class Skip:
    kind: str
    target: str
    rule: str
    template: str
    reason: str
    purpose: str = ""


@dataclass(frozen=True)
class DayPlan:
    steps: tuple[Step, ...] = ()
    skips: tuple[Skip, ...] = ()

    @property
    def refers(self) -> bool:
        return any(step.kind == "legal_referral" for step in self.steps)


def plan_day(case: CaseView, playbook: Playbook, as_of: date) -> DayPlan:
    """The steps the playbook takes for ``case`` on ``as_of``, and those held back."""
    if case.in_legal or case.referral_pending or case.dpd <= 0:
        return DayPlan()

    referral = _referral(case, playbook)
    steps: dict[tuple[str, str], Step] = {}
    skips: list[Skip] = []
    if referral is not None:
        steps[(referral.kind, referral.target)] = referral

    promise_holds = case.promise_due is not None and as_of <= (
        case.promise_due + timedelta(days=playbook.promise_grace_days)
    )
    for rule in playbook.rules:
        catching_up = referral is None and rule.missed(case.dpd, case.done_rules)
        if not (rule.applies(case.dpd) or catching_up):
            continue
        for target in _targets(rule, case):
            step = Step(rule.kind, target, rule.name, rule.template, rule.purpose)
            if referral is not None:
                skips.append(_skip(step, REFERRED))
            elif promise_holds and rule.kind in playbook.promise_suspends:
                skips.append(_skip(step, PROMISE_PENDING))
            else:
                steps.setdefault((step.kind, step.target), step)

    if case.promise_broken_today and referral is None:
        steps.setdefault(
            ("visit", BORROWER),
            Step(
                "visit",
                BORROWER,
                "broken-promise",
                playbook.visit_template,
                playbook.broken_visit_purpose,
            ),
        )
    return DayPlan(tuple(steps.values()), tuple(skips))


def _referral(case: CaseView, playbook: Playbook) -> Step | None:
    terms = playbook.terms(case.product)
    if case.agreement_broken:
        rule = "agreement-broken"
    elif case.referral_held:
        return None
    elif case.reason in playbook.refer_at_once_reasons:
        rule = f"reason-{case.reason}"
    elif case.dpd >= terms.legal_threshold_dpd:
        rule = "legal-threshold"
    else:
        return None
    return Step("legal_referral", BORROWER, rule, playbook.legal_template)


def _targets(rule: Rule, case: CaseView) -> Iterable[str]:
    if rule.target == BORROWER:
        return (BORROWER,)
    return tuple(guarantor_target(g) for g in case.guarantor_ids)


def _skip(step: Step, reason: str) -> Skip:
    return Skip(step.kind, step.target, step.rule, step.template, reason, step.purpose)


# Promises ------------------------------------------------------------------


@dataclass(frozen=True)
class PromiseCheck:
    state: str  # pending, kept, broken
    paid: Decimal


def check_promise(
    made_on: date,
    promised_on: date,
    amount: Decimal,
    payments: Iterable[tuple[date, Decimal]],
    as_of: date,
    grace_days: int,
    arrears_cleared: bool = False,
) -> PromiseCheck:
    """Kept when paid in full by the promised date; broken once the grace is over.

    A partial payment keeps nothing: the promise stays pending until its date,
    then breaks. Clearing the whole arrears keeps any promise.
    """
    deadline = promised_on + timedelta(days=grace_days)
    paid = sum(
        (a for on, a in payments if made_on <= on <= min(deadline, as_of)),
        Decimal("0"),
    )
    if paid >= amount or arrears_cleared:
        return PromiseCheck("kept", paid)
    if as_of > deadline:
        return PromiseCheck("broken", paid)
    return PromiseCheck("pending", paid)


# Loading -------------------------------------------------------------------


def load_playbook(path: Path) -> Playbook:
    """Read config/playbook.yaml; a bad line is an error naming file and field."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: playbook file not found") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return _PlaybookReader(path).read(raw)


@dataclass
class _PlaybookReader:
    path: Path
    seen_rules: set[str] = field(default_factory=set)

    def fail(self, where: str, value: Any, expected: str) -> ConfigError:
        return ConfigError(f"{self.path}: {where} = {value!r}: expected {expected}")

    def decimal(self, where: str, value: Any) -> Decimal:
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise self.fail(where, value, "a decimal number like 1.00") from None
        if not number.is_finite() or number < 0:
            raise self.fail(where, value, "a non-negative decimal number")
        return number

    def integer(self, where: str, value: Any, minimum: int = 0) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise self.fail(where, value, f"a whole number >= {minimum}")
        return value

    def read(self, raw: dict[str, Any]) -> Playbook:
        promises = raw.get("promises", {}) or {}
        legal = raw.get("legal", {}) or {}
        products_raw = raw.get("products") or {}
        if "default" not in products_raw:
            raise self.fail("products", products_raw, "a 'default' product entry")
        products = {
            name: ProductTerms(
                penalty_daily_rate=self.decimal(
                    f"products.{name}.penalty_daily_rate",
                    terms.get("penalty_daily_rate", "0.0005"),
                ),
                legal_threshold_dpd=self.integer(
                    f"products.{name}.legal_threshold_dpd",
                    terms.get("legal_threshold_dpd", 30),
                    minimum=1,
                ),
            )
            for name, terms in products_raw.items()
        }
        suspends = frozenset(promises.get("suspends", ["call"]))
        for kind in suspends:
            if kind not in CONTACT_KINDS:
                raise self.fail("promises.suspends", kind, f"one of {CONTACT_KINDS}")
        rules = tuple(
            self.rule(index, item) for index, item in enumerate(raw.get("rules", []))
        )
        return Playbook(
            min_overdue_amount=self.decimal(
                "min_overdue_amount", raw.get("min_overdue_amount", "1.00")
            ),
            blacklist_threshold_dpd=self.integer(
                "blacklist_threshold_dpd", raw.get("blacklist_threshold_dpd", 30), 1
            ),
            promise_grace_days=self.integer(
                "promises.grace_days", promises.get("grace_days", 0)
            ),
            promise_suspends=suspends,
            promise_max_days=self.integer(
                "promises.max_days", promises.get("max_days", 30), 1
            ),
            broken_visit_purpose=str(promises.get("broken_visit_purpose", "")),
            legal_template=str(legal.get("template", "legal/referral.html")),
            refer_at_once_reasons=frozenset(legal.get("refer_at_once_reasons", [])),
            products=products,
            rules=rules,
        )

    def rule(self, index: int, item: Any) -> Rule:
        where = f"rules[{index}]"
        if not isinstance(item, dict):
            raise self.fail(where, item, "a mapping with name, kind and template")
        name = item.get("name")
        if not name or name in self.seen_rules:
            raise self.fail(f"{where}.name", name, "a unique, non-empty rule name")
        self.seen_rules.add(name)
        kind = item.get("kind")
        if kind not in CONTACT_KINDS:
            raise self.fail(f"{where}.kind", kind, f"one of {CONTACT_KINDS}")
        target = item.get("target", BORROWER)
        if target not in (BORROWER, "guarantors"):
            raise self.fail(f"{where}.target", target, "'borrower' or 'guarantors'")
        if not item.get("template"):
            raise self.fail(f"{where}.template", None, "a template path")
        on_dpd = item.get("on_dpd") or []
        if not isinstance(on_dpd, list):
            raise self.fail(f"{where}.on_dpd", on_dpd, "a list of DPD numbers")
        from_dpd = item.get("from_dpd")
        if not on_dpd and from_dpd is None:
            raise self.fail(where, item, "either on_dpd or from_dpd")
        to_dpd = item.get("to_dpd")
        return Rule(
            name=name,
            kind=kind,
            template=str(item["template"]),
            target=target,
            on_dpd=frozenset(self.integer(f"{where}.on_dpd", d, 1) for d in on_dpd),
            from_dpd=None
            if from_dpd is None
            else self.integer(f"{where}.from_dpd", from_dpd, 1),
            to_dpd=None if to_dpd is None else self.integer(f"{where}.to_dpd", to_dpd),
            every_days=self.integer(
                f"{where}.every_days", item.get("every_days", 1), 1
            ),
            purpose=str(item.get("purpose", "")),
            catch_up=bool(item.get("catch_up", True)),
        )
