"""Community ID v1 against the spec's published vectors (community-id-spec baseline,
also used by Zeek's community_id_v1 tests)."""

from __future__ import annotations

import pytest

from monitor.community_id import community_id

V6_A = "fe80:0001:0203:0405:0607:0809:0A0B:0C0D"
V6_B = "fe80:1011:1213:1415:1617:1819:1A1B:1C1D"


@pytest.mark.parametrize(
    ("src", "dst", "proto", "sport", "dport", "seed", "expected"),
    [
        ("1.2.3.4", "5.6.7.8", 6, 1122, 3344, 0, "1:wCb3OG7yAFWelaUydu0D+125CLM="),
        ("5.6.7.8", "1.2.3.4", 6, 3344, 1122, 0, "1:wCb3OG7yAFWelaUydu0D+125CLM="),
        ("1.2.3.4", "5.6.7.8", 17, 1122, 3344, 0, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg="),
        ("5.6.7.8", "1.2.3.4", 17, 3344, 1122, 0, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg="),
        ("1.2.3.4", "5.6.7.8", 1, 8, 0, 0, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0="),
        ("5.6.7.8", "1.2.3.4", 1, 0, 0, 0, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0="),
        (V6_A, V6_B, 58, 128, 0, 0, "1:0bf7hyMJUwt3fMED7z8LIfRpBeo="),
        (V6_B, V6_A, 58, 129, 0, 0, "1:0bf7hyMJUwt3fMED7z8LIfRpBeo="),
        ("1.2.3.4", "5.6.7.8", 6, 1122, 3344, 1, "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="),
        ("1.2.3.4", "5.6.7.8", 17, 1122, 3344, 1, "1:OShq+iKDAMVouh/4bMxB9Sz4amw="),
        ("1.2.3.4", "5.6.7.8", 1, 8, 0, 1, "1:9pr4ZGTICiuZoIh90RRYE2RyXpU="),
        (V6_A, V6_B, 58, 128, 0, 1, "1:IO27GQzPuCtNnwFvjWALMHu5tJE="),
        ("1.2.3.4", "5.6.7.8", 46, 0, 0, 0, "1:ikv3kmf89luf73WPz1jOs49S768="),
    ],
)
def test_published_vectors(src: str, dst: str, proto: int, sport: int, dport: int, seed: int,
                           expected: str) -> None:
    assert community_id(src, dst, proto, sport, dport, seed) == expected


def test_bad_address_is_an_error() -> None:
    with pytest.raises(ValueError):
        community_id("1.2.3", "5.6.7.8", 6, 1, 2)
