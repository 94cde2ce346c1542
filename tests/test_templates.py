import pickle
import re
from datetime import date
from decimal import Decimal

import jinja2
import pytest
from jinja2 import nodes

from dunning.errors import TemplateError
from dunning.formatting import (
    cn_date,
    mask_id,
    mask_phone,
    money,
    sms_segments,
)
from dunning.render import Renderer
from dunning.settings import PROJECT_ROOT

TEMPLATES_DIR = PROJECT_ROOT / "templates"

CALLS = ["call/early.txt", "call/mid.txt", "call/late.txt"]
TEXTS = ["sms/early.txt", "sms/mid.txt", "sms/late.txt", "sms/notice_issued.txt"]
HTML = [
    "visit/sheet.html",
    "notice/overdue.html",
    "notice/guarantor.html",
    "legal/referral.html",
]

MARKUP = "<script>alert(1)</script> & 张三"
MARKUP_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt; &amp; 张三"

# The longest values a text is expected to carry.
LONGEST = {
    "lender": "义乌惠民小额贷款有限公司",
    "borrower_name": "欧阳娜娜娜娜（生成）",
    "loan_tail": "0123",
    "arrears": "¥1,234,567.89",
    "dpd": 999,
    "callback_phone": "+86 400-123-4567",
}

# Measured with the values above; the rule is three at most, the aim two.
TEXT_SEGMENTS = {
    "sms/early.txt": 2,
    "sms/mid.txt": 2,
    "sms/late.txt": 2,
    "sms/notice_issued.txt": 2,
}

# A call is read aloud in 30-60 s; this many characters, longest values in.
CALL_CHARACTERS_MAX = 280

THREATENING = [
    "坐牢",
    "判刑",
    "刑事",
    "拘留",
    "逮捕",
    "抓",
    "公安",
    "警察",
    "派出所",
    "法院传票",
    "律师函",
    "曝光",
    "通讯录",
    "家人",
    "亲友",
    "同事",
    "单位领导",
    "后果自负",
    "走着瞧",
    "老赖",
    "骗子",
    "黑社会",
]


def yuan(amount: str) -> str:
    return money(Decimal(amount), "CNY")


def installments() -> list[dict[str, object]]:
    return [
        {
            "due_on": cn_date(date(2026, 10, 15)),
            "amount": yuan("4200.00"),
            "paid": yuan("4200.00"),
            "outstanding": yuan("0.00"),
        },
        {
            "due_on": cn_date(date(2026, 11, 15)),
            "amount": yuan("4200.00"),
            "paid": yuan("1000.00"),
            "outstanding": yuan("3200.00"),
        },
    ]


def guarantors() -> list[dict[str, object]]:
    return [
        {
            "name": "李秀英",
            "kind_label": "担保人",
            "phone": mask_phone("+8613912345678"),
        }
    ]


def notice_context(borrower_name: str) -> dict[str, object]:
    return {
        "lender": "义乌惠民小额贷款有限公司",
        "branch": "稠城营业部",
        "notice_no": "CS-2026-0007",
        "issued_on": cn_date(date(2026, 11, 22)),
        "borrower_name": borrower_name,
        "address": "浙江省义乌市稠城街道工人北路88号",
        "loan_id": "HM20260042",
        "product": "个人经营贷款",
        "currency": "CNY",
        "principal": yuan("50000.00"),
        "installments": installments(),
        "arrears": yuan("3200.00"),
        "penalty": yuan("11.20"),
        "total_due": yuan("3211.20"),
        "dpd": 7,
        "overdue_since": cn_date(date(2026, 11, 16)),
        "daily_rate": "0.05%",
        "pay_by": cn_date(date(2026, 11, 29)),
        "callback_phone": "0579-8512-3456",
        "officer": "陈志强",
    }


def contexts(borrower_name: str = "王建国") -> dict[str, dict[str, object]]:
    """One realistic context per template, with exactly its documented keys."""
    call = {
        "lender": "惠民小贷",
        "borrower_name": borrower_name,
        "loan_id": "HM20260042",
        "arrears": yuan("3200.00"),
        "penalty": yuan("4.80"),
        "dpd": 3,
        "overdue_since": cn_date(date(2026, 11, 16)),
        "callback_phone": "0579-8512-3456",
    }
    text = {
        "lender": "惠民小贷",
        "borrower_name": borrower_name,
        "loan_tail": "0042",
        "arrears": yuan("3200.00"),
        "dpd": 3,
        "callback_phone": "0579-8512-3456",
    }
    visit = {
        "lender": "义乌惠民小额贷款有限公司",
        "branch": "稠城营业部",
        "officer": "陈志强",
        "visit_date": cn_date(date(2026, 11, 19)),
        "visits": [
            {
                "loan_id": "HM20260042",
                "borrower_name": borrower_name,
                "address": "义乌市稠城街道工人北路88号 建国五金店",
                "phone": mask_phone("+8613800008000"),
                "dpd": 4,
                "arrears": yuan("3200.00"),
                "penalty": yuan("6.40"),
                "purpose": "逾期第二次走访",
                "promise": "承诺2026年11月25日还款¥3,200.00",
                "guarantors": guarantors(),
            },
            {
                "loan_id": "HM20260077",
                "borrower_name": "赵美玲",
                "address": "义乌市北苑街道春晗路12号 美玲服饰",
                "phone": mask_phone("+8613700137000"),
                "dpd": 1,
                "arrears": yuan("2850.50"),
                "penalty": yuan("1.43"),
                "purpose": "首次逾期走访",
                "promise": "",
                "guarantors": [],
            },
        ],
    }
    referral = {
        "lender": "义乌惠民小额贷款有限公司",
        "case_id": "C-2026-0311",
        "loan_id": "HM20260042",
        "referred_on": cn_date(date(2026, 12, 16)),
        "borrower_name": borrower_name,
        "borrower_id_number": mask_id("330782198805061234"),
        "copy_label": "存档副本（证件号码已部分隐藏）",
        "referral_id": 7,
        "referral_rule_label": "逾期天数达到移交标准",
        "branch": "稠城支行",
        "officer": "陈志强",
        "installment_count": 12,
        "first_due_on": cn_date(date(2026, 6, 16)),
        "last_due_on": cn_date(date(2027, 5, 16)),
        "daily_rate": "0.05%",
        "total_due": yuan("7515.60"),
        "escalations": [
            {
                "on": cn_date(date(2026, 12, 10)),
                "target_label": "提请主管审查",
                "reason": "担保人拒绝代偿",
                "operator": "王主管",
            }
        ],
        "address": "浙江省义乌市稠城街道工人北路88号",
        "product": "个人经营贷款",
        "principal": yuan("50000.00"),
        "currency": "CNY",
        "arrears": yuan("7400.00"),
        "penalty": yuan("115.60"),
        "dpd": 31,
        "overdue_since": cn_date(date(2026, 11, 16)),
        "reason_label": "资金周转困难",
        "guarantors": [
            g | {"id_number": mask_id("330782196501011234")} for g in guarantors()
        ],
        "installments": installments(),
        "payments": [{"paid_on": cn_date(date(2026, 11, 20)), "amount": yuan("1000")}],
        "actions": [
            {
                "on": cn_date(date(2026, 11, 16)),
                "kind_label": "上门走访",
                "target": "借款人",
                "state": "已完成",
                "outcome": "店铺照常营业，称货款未收回",
                "officer": "陈志强",
                "id": 101,
                "at": "10:30",
                "channel": "person",
                "notes": "",
            }
        ],
        "promises": [
            {
                "made_on": cn_date(date(2026, 11, 16)),
                "promised_on": cn_date(date(2026, 11, 25)),
                "amount": yuan("3200.00"),
                "state_label": "未履行",
            }
        ],
        "notices": [
            {
                "issued_on": cn_date(date(2026, 11, 22)),
                "kind_label": "逾期催收通知书",
                "recipient": borrower_name,
                "served": "2026年11月23日当面送达，已签收",
                "served_by": "陈志强",
                "served_to": borrower_name,
                "how_label": "当面送达（签收回执）",
                "proof": "回执 HZ-0311",
            }
        ],
    }
    guarantor_notice = notice_context(borrower_name) | {
        "address": "浙江省义乌市江东街道宗泽路21号",
        "guarantor_name": "李秀英",
        "guarantor_kind_label": "担保人",
        "purpose": "pay_on_behalf",
    }
    return (
        dict.fromkeys(CALLS, call)
        | dict.fromkeys(TEXTS, text)
        | {
            "visit/sheet.html": visit,
            "notice/overdue.html": notice_context(borrower_name),
            "notice/guarantor.html": guarantor_notice,
            "legal/referral.html": referral,
        }
    )


def documented_variables(source: str) -> set[str]:
    header = source[: source.index("#}")]
    listing = header.split("Variables:", 1)[1]
    return set(re.findall(r"^ {4}([a-z_]+)\b", listing, re.MULTILINE))


def template_files() -> list[str]:
    paths = [p for p in TEMPLATES_DIR.rglob("*") if p.is_file()]
    return sorted(str(p.relative_to(TEMPLATES_DIR)) for p in paths)


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(TEMPLATES_DIR)


class TestMoney:
    def test_cny_is_written_with_the_yuan_sign_and_thousands(self) -> None:
        assert money(Decimal("12345.67"), "CNY") == "¥12,345.67"

    def test_other_currencies_are_written_with_their_code(self) -> None:
        assert money(Decimal("12345.67"), "USD") == "USD 12,345.67"

    def test_amounts_round_half_up_to_the_cent(self) -> None:
        assert money(Decimal("2.675"), "CNY") == "¥2.68"
        assert money(Decimal("0.005"), "CNY") == "¥0.01"
        assert money(Decimal("1234567.894"), "CNY") == "¥1,234,567.89"
        assert money(Decimal("7"), "CNY") == "¥7.00"

    def test_negative_amounts_keep_their_sign_and_zero_loses_it(self) -> None:
        assert money(Decimal("-5"), "CNY") == "-¥5.00"
        assert money(Decimal("-0.001"), "CNY") == "¥0.00"

    def test_float_is_refused(self) -> None:
        with pytest.raises(TypeError, match="Decimal"):
            money(12345.67, "CNY")  # type: ignore[arg-type]

    def test_a_currency_that_is_not_an_iso_code_is_refused(self) -> None:
        with pytest.raises(ValueError, match="'cny'"):
            money(Decimal("1"), "cny")

    def test_not_a_number_is_refused(self) -> None:
        with pytest.raises(ValueError):
            money(Decimal("NaN"), "CNY")


class TestDatesAndMasks:
    def test_dates_are_written_in_chinese_without_leading_zeros(self) -> None:
        assert cn_date(date(2026, 11, 30)) == "2026年11月30日"
        assert cn_date(date(2026, 1, 5)) == "2026年1月5日"

    def test_phone_keeps_country_code_and_last_four(self) -> None:
        assert mask_phone("+8613800008000") == "+86*******8000"
        assert mask_phone("+14155550123") == "+1******0123"
        assert mask_phone("+85291234567") == "+852****4567"

    def test_phone_not_in_e164_is_refused(self) -> None:
        with pytest.raises(ValueError):
            mask_phone("13800008000")
        with pytest.raises(ValueError):
            mask_phone("+86 138 0000 8000")

    def test_id_keeps_last_four(self) -> None:
        assert mask_id("33078219880506123X") == "**************123X"

    def test_id_of_four_or_fewer_characters_is_hidden_whole(self) -> None:
        assert mask_id("1234") == "****"


class TestSmsSegments:
    def test_gsm_text_fits_160_in_one_segment(self) -> None:
        assert sms_segments("a" * 160) == 1
        assert sms_segments("a" * 161) == 2

    def test_gsm_parts_carry_153(self) -> None:
        assert sms_segments("a" * 306) == 2
        assert sms_segments("a" * 307) == 3

    def test_gsm_extension_characters_count_twice(self) -> None:
        assert sms_segments("€" * 80) == 1
        assert sms_segments("€" * 80 + "a") == 2
        assert sms_segments("{}[]~^|\\") == 1

    def test_an_extension_pair_is_not_split_between_parts(self) -> None:
        # 306 septets would fill two parts exactly, but the euro sign cannot
        # take the first part's last septet, so it opens the second.
        assert sms_segments("a" * 152 + "€" + "a" * 152) == 3
        assert sms_segments("a" * 152 + "€" + "a" * 151) == 2

    def test_yen_is_in_the_gsm_alphabet(self) -> None:
        assert sms_segments("¥" * 160) == 1

    def test_one_chinese_character_makes_the_whole_text_ucs2(self) -> None:
        assert sms_segments("中" * 70) == 1
        assert sms_segments("中" * 71) == 2
        assert sms_segments("a" * 69 + "中") == 1
        assert sms_segments("a" * 70 + "中") == 2

    def test_ucs2_parts_carry_67(self) -> None:
        assert sms_segments("中" * 134) == 2
        assert sms_segments("中" * 135) == 3

    def test_ucs2_counts_utf16_code_units(self) -> None:
        assert sms_segments("😀" * 35) == 1
        assert sms_segments("😀" * 36) == 2

    def test_an_empty_body_sends_nothing(self) -> None:
        assert sms_segments("") == 0

    def test_a_known_collection_text_is_two_segments(self) -> None:
        body = (
            "【惠民小贷】王建国您好，您尾号0042的贷款已逾期3天，逾期金额¥3,200.00。"
            "逾期期间罚息按日计收，逾期记录将报送征信，请尽快还款。"
            "咨询请致电0579-8512-3456。"
        )
        assert len(body) == 89
        assert sms_segments(body) == 2


class TestTemplateContract:
    def test_every_template_on_disk_is_covered_here(self) -> None:
        pages = [name for name in template_files() if "/" in name]
        assert sorted(pages) == sorted(CALLS + TEXTS + HTML)
        assert sorted(contexts()) == sorted(CALLS + TEXTS + HTML)

    @pytest.mark.parametrize("name", CALLS + TEXTS + HTML)
    def test_documented_variables_are_exactly_what_it_reads(
        self, renderer: Renderer, name: str
    ) -> None:
        documented = documented_variables((TEMPLATES_DIR / name).read_text())

        assert documented == set(renderer.variables(name))
        assert documented == set(contexts()[name])

    @pytest.mark.parametrize("name", template_files())
    def test_templates_compute_nothing(self, name: str) -> None:
        ast = jinja2.Environment().parse((TEMPLATES_DIR / name).read_text())
        macros = {m.name for m in ast.find_all(nodes.Macro)} | {
            alias if isinstance(alias, str) else alias[1]
            for i in ast.find_all(nodes.FromImport)
            for alias in i.names
        }

        assert not list(ast.find_all(nodes.Filter))
        assert not list(ast.find_all(nodes.BinExpr))
        assert not list(ast.find_all(nodes.Concat))
        for call in ast.find_all(nodes.Call):
            assert isinstance(call.node, nodes.Name) and call.node.name in macros

    @pytest.mark.parametrize("name", template_files())
    def test_no_template_threatens(self, name: str) -> None:
        source = (TEMPLATES_DIR / name).read_text()

        assert [word for word in THREATENING if word in source] == []


class TestRenderer:
    def test_a_missing_variable_names_itself_and_the_template(
        self, renderer: Renderer
    ) -> None:
        context = dict(contexts()["sms/early.txt"])
        del context["dpd"]

        with pytest.raises(TemplateError) as raised:
            renderer.render("sms/early.txt", context)

        assert raised.value.template == "sms/early.txt"
        assert "'sms/early.txt'" in str(raised.value)
        assert "'dpd'" in str(raised.value)

    def test_every_missing_variable_is_named_at_once(self, renderer: Renderer) -> None:
        context = dict(contexts()["notice/guarantor.html"])
        del context["purpose"], context["pay_by"]

        with pytest.raises(TemplateError, match="'pay_by', 'purpose'"):
            renderer.render("notice/guarantor.html", context)

    def test_a_missing_key_inside_a_list_is_named(self, renderer: Renderer) -> None:
        context = contexts()["visit/sheet.html"]
        del context["visits"][0]["promise"]  # type: ignore[index]

        with pytest.raises(TemplateError, match="promise") as raised:
            renderer.render("visit/sheet.html", context)

        assert raised.value.template == "visit/sheet.html"

    def test_an_unknown_template_is_a_template_error(self, renderer: Renderer) -> None:
        with pytest.raises(TemplateError, match=re.escape("sms/nope.txt")):
            renderer.render("sms/nope.txt", {})

    def test_template_error_survives_pickling(self) -> None:
        error = TemplateError("sms/early.txt", "no value given for variable 'dpd'")

        copy = pickle.loads(pickle.dumps(error))

        assert str(copy) == str(error)
        assert copy.template == "sms/early.txt"

    @pytest.mark.parametrize("name", HTML)
    def test_html_escapes_markup_in_names(self, renderer: Renderer, name: str) -> None:
        page = renderer.render(name, contexts(MARKUP)[name])

        assert MARKUP_ESCAPED in page
        assert "<script" not in page

    @pytest.mark.parametrize("name", CALLS + TEXTS)
    def test_text_keeps_names_verbatim(self, renderer: Renderer, name: str) -> None:
        assert MARKUP in renderer.render(name, contexts(MARKUP)[name])

    @pytest.mark.parametrize("name", CALLS + TEXTS)
    def test_text_has_no_leading_or_trailing_blank(
        self, renderer: Renderer, name: str
    ) -> None:
        body = renderer.render(name, contexts()[name])

        assert body == body.strip()


class TestCallScripts:
    @pytest.mark.parametrize("name", CALLS)
    def test_states_lender_amounts_days_and_how_to_call_back(
        self, renderer: Renderer, name: str
    ) -> None:
        script = renderer.render(name, contexts()[name])

        assert script.startswith("您好，这里是惠民小贷。")
        for value in [
            "HM20260042",
            "¥3,200.00",
            "¥4.80",
            "已逾期3天",
            "2026年11月16日",
        ]:
            assert value in script
        assert script.count("0579-8512-3456") == 2
        assert "还款日期" in script

    @pytest.mark.parametrize("name", CALLS)
    def test_says_whom_the_call_is_for_before_any_amount(
        self, renderer: Renderer, name: str
    ) -> None:
        script = renderer.render(name, contexts()[name])

        assert script.index("如果您不是本人，请挂断") < script.index("¥3,200.00")

    def test_early_call_states_the_consequences(self, renderer: Renderer) -> None:
        script = renderer.render("call/early.txt", contexts()["call/early.txt"])

        for fact in ["罚息按天计收", "征信", "优惠利率或免息待遇"]:
            assert fact in script

    def test_mid_call_brings_in_guarantors_and_the_notice(
        self, renderer: Renderer
    ) -> None:
        script = renderer.render("call/mid.txt", contexts()["call/mid.txt"])

        for fact in ["担保人", "督促还款", "逾期催收通知书", "罚息越多"]:
            assert fact in script

    def test_late_call_states_notice_guarantor_and_legal_steps(
        self, renderer: Renderer
    ) -> None:
        script = renderer.render("call/late.txt", contexts()["call/late.txt"])

        for fact in [
            "已向您发出逾期催收通知书",
            "代为偿还",
            "依法提起诉讼",
            "还款安排",
        ]:
            assert fact in script

    @pytest.mark.parametrize("name", CALLS)
    def test_is_short_enough_to_read_in_a_minute(
        self, renderer: Renderer, name: str
    ) -> None:
        longest = contexts(LONGEST["borrower_name"])[name] | {
            "lender": LONGEST["lender"],
            "loan_id": "HM-2026-00012345",
            "arrears": LONGEST["arrears"],
            "penalty": "¥12,345.67",
            "dpd": 999,
            "callback_phone": LONGEST["callback_phone"],
        }

        assert len(renderer.render(name, longest)) <= CALL_CHARACTERS_MAX


class TestTexts:
    @pytest.mark.parametrize("name", TEXTS)
    def test_opens_with_the_signature_and_carries_no_link(
        self, renderer: Renderer, name: str
    ) -> None:
        body = renderer.render(name, contexts()[name])

        assert body.startswith("【惠民小贷】王建国您好")
        assert not re.search(r"https?:|www\.|://|\.(com|cn|net)\b", body)
        assert "\n" not in body

    @pytest.mark.parametrize("name", TEXTS)
    def test_states_the_loan_amount_days_and_callback(
        self, renderer: Renderer, name: str
    ) -> None:
        body = renderer.render(name, contexts()[name])

        for value in ["尾号0042", "¥3,200.00", "逾期3天", "0579-8512-3456"]:
            assert value in body

    @pytest.mark.parametrize("name", TEXTS)
    def test_longest_values_fit_the_measured_segments(
        self, renderer: Renderer, name: str
    ) -> None:
        body = renderer.render(name, LONGEST)

        assert len(body) <= 3 * 67
        assert sms_segments(body) == TEXT_SEGMENTS[name] <= 3

    def test_notice_issued_text_says_the_notice_will_be_served(
        self, renderer: Renderer
    ) -> None:
        name = "sms/notice_issued.txt"
        body = renderer.render(name, contexts()[name])

        assert "《逾期催收通知书》" in body
        assert "送达" in body

    def test_late_text_states_guarantor_and_legal_steps(
        self, renderer: Renderer
    ) -> None:
        body = renderer.render("sms/late.txt", contexts()["sms/late.txt"])

        assert "担保人" in body
        assert "依法" in body


class TestPrintedDocuments:
    @pytest.mark.parametrize("name", HTML)
    def test_is_a_self_contained_chinese_page(
        self, renderer: Renderer, name: str
    ) -> None:
        page = renderer.render(name, contexts()[name])

        assert page.startswith("<!DOCTYPE html>")
        assert '<html lang="zh-CN">' in page
        assert '<meta charset="utf-8">' in page
        for outside in ["http:", "https:", "//", "<link", "<img", "<script", "url("]:
            assert outside not in page

    def test_visit_sheet_lists_each_visit_with_what_to_record(
        self, renderer: Renderer
    ) -> None:
        page = renderer.render("visit/sheet.html", contexts()["visit/sheet.html"])

        for value in [
            "陈志强",
            "2026年11月19日",
            "HM20260042",
            "+86*******8000",
            "逾期第二次走访",
            "承诺2026年11月25日还款¥3,200.00",
            "李秀英（担保人）+86*******5678",
            "赵美玲",
            "首次逾期走访",
            "¥2,850.50",
        ]:
            assert value in page
        for column in [
            "是否正常经营",
            "资金回笼情况",
            "资金周转困难",
            "市场变化",
            "家庭原因",
            "恶意拖欠",
            "原因不明",
            "还款日期",
            "还款金额",
            "借款人确认签字",
        ]:
            assert column in page
        assert page.count('<section class="page">') == 3

    def test_overdue_notice_states_amounts_consequences_and_receipt(
        self, renderer: Renderer
    ) -> None:
        page = renderer.render("notice/overdue.html", contexts()["notice/overdue.html"])

        for value in [
            "逾期催收通知书",
            "CS-2026-0007",
            "已逾期7天",
            "¥3,200.00",
            "¥11.20",
            "¥3,211.20",
            "日利率0.05%",
            "2026年11月29日",
            "2026年10月15日",
            "¥1,000.00",
            "征信",
            "优惠利率",
            "担保人",
            "依法",
            "送达回执",
            "受送达人签字",
        ]:
            assert value in page
        assert page.index("送达回执") > page.index("（盖章）")

    def test_guarantor_notice_wording_follows_purpose(self, renderer: Renderer) -> None:
        context = contexts()["notice/guarantor.html"]
        pay = renderer.render("notice/guarantor.html", context)
        collect = renderer.render(
            "notice/guarantor.html", context | {"purpose": "collect_together"}
        )

        for page in (pay, collect):
            assert "担保人通知书" in page
            assert "李秀英" in page
            assert "由您作为担保人提供担保" in page
            assert "送达回执" in page
        assert "现正式要求您于" in pay and "代借款人归还" in pay
        assert "向借款人追偿" in pay
        assert "协助联系借款人" not in pay
        assert "协助联系借款人" in collect
        assert "代借款人归还" not in collect

    def test_legal_referral_carries_the_whole_file(self, renderer: Renderer) -> None:
        page = renderer.render("legal/referral.html", contexts()["legal/referral.html"])

        for value in [
            "C-2026-0311",
            "**************1234",
            "资金周转困难",
            "李秀英",
            "¥7,400.00",
            "31天",
            "2026年11月20日",
            "店铺照常营业，称货款未收回",
            "未履行",
            "2026年11月23日当面送达，已签收",
            "移交人签字",
        ]:
            assert value in page

    def test_legal_referral_marks_empty_sections(self, renderer: Renderer) -> None:
        context = contexts()["legal/referral.html"] | {
            "guarantors": [],
            "payments": [],
            "promises": [],
        }

        page = renderer.render("legal/referral.html", context)

        assert "逾期以来无还款" in page
        assert page.count('class="center">无</td>') == 2


def test_free_text_keeps_dates_and_amounts_but_masks_numbers_of_people():
    from dunning.formatting import scrub

    assert scrub(
        "法院 110101199003071245，电话 138 0013 8009，2026-11-30 付 1234.56"
    ) == ("法院 **************1245，电话 *******8009，2026-11-30 付 1234.56")
