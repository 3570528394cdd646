"""Arbitrary input never crashes, hangs or yields spans outside the text; threads share."""

from __future__ import annotations

import contextlib
import threading

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classify import Classifier, InputError

CLF = Classifier.default()
ALPHABET = st.sampled_from(list("0123456789Xx:.-@ +,，：\n\x00eyJABCDEFabcdef京A手机身份证号"
                                "姓名张伟诊断省市区路号\ud800😀"))
SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.text(alphabet=ALPHABET, max_size=300) | st.text(max_size=300))
def test_any_text(text: str) -> None:
    result = CLF.scan_text(text)
    previous_end = 0
    for finding in result.findings:
        assert 0 <= finding.start < finding.end <= len(text)
        assert finding.start >= previous_end  # no overlaps, in order
        previous_end = finding.end
    masked, _ = CLF.mask_text(text, above="L1")
    assert isinstance(masked, str)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(alphabet=ALPHABET, max_size=40),
    lambda inner: st.lists(inner, max_size=5)
    | st.dictionaries(st.text(alphabet=ALPHABET, max_size=8), inner, max_size=5),
    max_leaves=30,
)


@SETTINGS
@given(JSON)
def test_any_json(obj: object) -> None:
    result = CLF.scan_json(obj)
    for finding in result.findings:
        assert finding.path is not None and finding.path.startswith("$")
    masked, _ = CLF.mask_json(obj, above="L1")
    if isinstance(obj, int | float) and not isinstance(obj, bool) and masked != obj:
        # documented: a masked number becomes a string, with its digits hidden
        assert isinstance(masked, str) and "*" in masked
    else:
        assert type(masked) is type(obj)


def test_masked_number_becomes_string() -> None:
    masked, result = CLF.mask_json({"phone": 19500000000}, above="L1")
    assert [f.type for f in result.findings] == ["cn_mobile"]
    assert masked == {"phone": "195****0000"}


@SETTINGS
@given(st.text(alphabet=st.sampled_from(list(',"\n\r13812345678张伟ab')), max_size=200))
def test_any_csv(text: str) -> None:
    with contextlib.suppress(InputError):  # the only error allowed out
        CLF.scan_csv(text)


def test_threads_share_one_classifier() -> None:
    text = "手机13812345678，身份证11010519491231002X，邮箱 a@example.com\n" * 50
    expected = [(f.type, f.start) for f in CLF.scan_text(text).findings]
    errors: list[str] = []

    def worker() -> None:
        for _ in range(20):
            got = [(f.type, f.start) for f in CLF.scan_text(text).findings]
            if got != expected:
                errors.append("mismatch")

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(expected) == 150
