"""AML messages (HTTPS form, SMS v1 and v2) read into one typed position; anything else refused
with a reason, never an exception of another kind."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.aml.parse import AmlMessage, AmlRejected, Method, Via, parse_https, parse_sms

V1 = (
    'A"ML=1;lt=-3.39460;lg=+104.83220;rd=52;top=20251112112928;lc=68;pm=G;'
    "si=510100000000000;ei=355458061005220;mcc=510;mnc=10;ml=128"
)
V2 = 'A"ML=2;en=112;et=1762946968;lo=-3.39460,104.83220,14.5;lt=12;lg=id;lc=68;pm=W;ml=90'
FORM = {
    "v": "1",
    "emergency_number": "112",
    "device_number": "081234567890",
    "device_imei": "355458061005220",
    "location_latitude": "-3.3946",
    "location_longitude": "104.8322",
    "location_accuracy": "20",
    "location_time": "1762946968123",
    "location_source": "gps",
    "location_certainty": "68",
}


def test_sms_v1_gives_position_radius_time_confidence_and_method() -> None:
    p = parse_sms("0812-3456-7890", V1)
    assert p == AmlMessage(
        via=Via.SMS,
        number="+6281234567890",
        latitude=-3.3946,
        longitude=104.8322,
        radius_m=52.0,
        positioned_at=datetime(2025, 11, 12, 11, 29, 28, tzinfo=UTC),
        confidence=68,
        method=Method.GPS,
        raw=V1,
    )


def test_sms_v2_reads_lo_and_takes_lt_as_seconds_after_the_call() -> None:
    p = parse_sms("+6281234567890", V2)
    assert (p.latitude, p.longitude, p.radius_m) == (-3.3946, 104.8322, 14.5)
    assert p.positioned_at == datetime.fromtimestamp(1762946968 + 12, UTC)
    assert (p.method, p.confidence, p.number) == (Method.WIFI, 68, "+6281234567890")


def test_sms_v2_radius_zero_means_unknown() -> None:
    assert parse_sms("+6281234567890", 'A"ML=2;lo=-3.1,104.2,0').radius_m is None


def test_https_form_gives_the_same_kind_of_position() -> None:
    body = urlencode(FORM)
    p = parse_https(body)
    assert p.via is Via.HTTPS
    assert p.number == "+6281234567890"
    assert (p.latitude, p.longitude, p.radius_m) == (-3.3946, 104.8322, 20.0)
    assert p.positioned_at == datetime(2025, 11, 12, 11, 29, 28, 123000, tzinfo=UTC)
    assert (p.method, p.confidence, p.raw) == (Method.GPS, 68, body)


@pytest.mark.parametrize(
    ("sender", "text", "reason", "field"),
    [
        ("+6281234567890", "hello, are you there?", "not-aml", None),
        ("+6281234567890", 'A"ML=1;lt=-3.39;lg=104.8;rd;pm=G', "malformed", None),
        ("+6281234567890", 'A"ML=1;lg=104.8;rd=5', "missing", "lt"),
        ("+6281234567890", 'A"ML=1;lt=abc;lg=104.8;rd=5', "malformed", "lt"),
        ("+6281234567890", 'A"ML=1;lt=1e2;lg=104.8;rd=5', "malformed", "lt"),
        ("+6281234567890", 'A"ML=1;lt=nan;lg=104.8;rd=5', "malformed", "lt"),
        ("+6281234567890", 'A"ML=1;lt=-3.3;lt=4.0;lg=104.8', "duplicate", "lt"),
        ("+6281234567890", 'A"ML=1;lt=-3.3;lg=104.8;top=20251340112928', "malformed", "top"),
        ("+6281234567890", 'A"ML=1;lt=-3.3;lg=104.8;pm=X', "malformed", "pm"),
        ("+6281234567890", 'A"ML=3;lo=-3.3,104.8,5', "unsupported-version", None),
        ("+6281234567890", 'A"ML=2;lo=-3.3;lg=id', "malformed", "lo"),
        ("+6281234567890", 'A"ML=2;lg=id', "missing", "lo"),
        ("anonymous", V1, "missing", "sender"),
        ("+6281234567890", 'A"ML=1;lt=-3.3;lg=104.8\x00', "malformed", None),
        ("+6281234567890", 'A"ML=1;lt=-3.3;lg=104.8;' + "x=1;" * 600, "too-long", None),
    ],
)
def test_malformed_sms_is_refused_with_its_reason(
    sender: str, text: str, reason: str, field: str | None
) -> None:
    with pytest.raises(AmlRejected) as refused:
        parse_sms(sender, text)
    assert (refused.value.reason, refused.value.field) == (reason, field)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('A"ML=1;lt=90.5;lg=104.8;rd=5', "lt"),
        ('A"ML=1;lt=-3.3;lg=-180.01;rd=5', "lg"),
        ('A"ML=1;lt=-3.3;lg=104.8;rd=5000000', "rd"),
        ('A"ML=1;lt=-3.3;lg=104.8;lc=101', "lc"),
        ('A"ML=1;lt=-3.3;lg=104.8;top=19991231235959', "top"),
        ('A"ML=2;lo=-91,104.8,5', "lo"),
        ('A"ML=2;lo=-3.3,104.8,5;et=1762946968;lt=999999', "lt"),
    ],
)
def test_out_of_range_sms_is_refused(text: str, field: str) -> None:
    with pytest.raises(AmlRejected) as refused:
        parse_sms("+6281234567890", text)
    assert (refused.value.reason, refused.value.field) == ("out-of-range", field)


def test_a_message_without_a_position_is_refused_as_such() -> None:
    null = (
        'A"ML=1;lt=+00.00000;lg=+000.00000;rd=N;top=20220131173734;lc=0;pm=N;'
        "si=234159000000000;ei=123456789012345;mcc=234;mnc=15;ml=127"
    )
    with pytest.raises(AmlRejected) as refused:
        parse_sms("+6281234567890", null)
    assert refused.value.reason == "no-position"


@pytest.mark.parametrize(
    ("change", "reason", "field"),
    [
        ({"location_latitude": None}, "missing", "location_latitude"),
        ({"location_latitude": "-95"}, "out-of-range", "location_latitude"),
        ({"location_longitude": "181"}, "out-of-range", "location_longitude"),
        ({"location_accuracy": "-5"}, "malformed", "location_accuracy"),
        ({"location_time": "yesterday"}, "malformed", "location_time"),
        ({"location_time": "99999999999999"}, "malformed", "location_time"),
        ({"location_time": "100"}, "out-of-range", "location_time"),
        ({"location_source": "radio"}, "malformed", "location_source"),
        ({"location_certainty": "250"}, "out-of-range", "location_certainty"),
        ({"device_number": None}, "missing", "device_number"),
    ],
)
def test_malformed_or_out_of_range_https_form_is_refused(
    change: dict[str, str | None], reason: str, field: str
) -> None:
    form = {k: v for k, v in (FORM | change).items() if v is not None}
    with pytest.raises(AmlRejected) as refused:
        parse_https(urlencode(form))
    assert (refused.value.reason, refused.value.field) == (reason, field)


def test_https_body_that_is_no_form_is_refused() -> None:
    with pytest.raises(AmlRejected) as refused:
        parse_https("<xml>location</xml>")
    assert refused.value.reason == "malformed"


def _check(p: AmlMessage) -> None:
    assert -90 <= p.latitude <= 90 and -180 <= p.longitude <= 180
    assert p.radius_m is None or 0 < p.radius_m <= 1_000_000
    assert p.confidence is None or 0 <= p.confidence <= 100
    assert p.positioned_at is None or p.positioned_at.tzinfo is not None
    assert p.method is not Method.NONE and p.number


_piece = st.sampled_from(["lt", "lg", "lo", "rd", "top", "lc", "pm", "et", "x", ""])
_value = st.one_of(
    st.text(max_size=30),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.lists(st.floats(-200, 200).map(str), min_size=1, max_size=4).map(",".join),
)


@settings(max_examples=300, deadline=None)
@given(
    version=st.sampled_from(["1", "2", "9", "x", ""]),
    pairs=st.lists(st.tuples(_piece, _value), max_size=12),
    sender=st.text(max_size=40),
)
def test_any_sms_is_read_or_refused_never_crashes(
    version: str, pairs: list[tuple[str, str]], sender: str
) -> None:
    text = f'A"ML={version};' + ";".join(f"{k}={v}" for k, v in pairs)
    try:
        _check(parse_sms(sender, text))
    except AmlRejected as refused:
        assert refused.reason and refused.message


@settings(max_examples=300, deadline=None)
@given(
    form=st.dictionaries(
        st.sampled_from(sorted(FORM)), st.one_of(_value, st.sampled_from(list(FORM.values())))
    ),
    noise=st.text(max_size=50),
)
def test_any_https_form_is_read_or_refused_never_crashes(form: dict[str, str], noise: str) -> None:
    for body in (urlencode(form), noise, urlencode(form) + noise):
        try:
            _check(parse_https(body))
        except AmlRejected as refused:
            assert refused.reason and refused.message
