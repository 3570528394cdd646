"""Hypothesis strategies for policy uploads: bundle archives with odd members and mangled
streams, multipart bodies with odd parts, and file contents that parsers find hard.

Every generated upload carries `Traits` saying what it holds, so a test can demand more
than "no 500": an archive with a traversal, link or device member must be refused as
``bad-bundle``, and a clean, valid one must be accepted.
"""

from __future__ import annotations

import gzip
import json
import tarfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import quote_from_bytes

from hypothesis import strategies as st

from tests.gateway.control.test_policies_service import AUTHZ, TESTS

ZONES = ("open", "transport", "parking", "water")  # never "health": the tests deny it
SYNTAX_ERRORS = (
    "package zonegate.authz\n\ndecision := {\n",
    "package\n",
    "package zonegate.authz\n\nimport future.keywords.nope\nx if { y := }\n",
    "package zonegate.authz\n\ndefault decision := 1\ndefault decision := 2\n",
    "package zonegate.authz\n\nx if { input.a[ }\n",
    "package zonegate.authz\n\nx := `unterminated\n",
    "package zonegate.authz\n\nx := \"\\uZZZZ\"\n",
    "package zonegate.authz\n\nx if { every a in [1] { a ==",
    "\ufeffpackage zonegate.authz\n\nx := 1\n",
)
NON_UTF8 = ("x\udcff.rego", "caf\udce9/data.json", "\udc80\udc80.json")  # surrogateescape
# text with lone surrogates: what a non-UTF-8 tar name or a "\udc80" JSON escape becomes
# (tarfile decodes a name's bytes 0x80-0xff that are not UTF-8 to U+DC80-U+DCFF)
surrogate_text = st.text(st.one_of(st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF),
                                   st.characters(categories=["Ll", "Nd"])),
                         min_size=1, max_size=12)


def surrogate_name(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


@dataclass
class Traits:
    """What a generated upload holds."""

    unsafe: list[str] = field(default_factory=list)  # traversal, link, device members
    mangled: list[str] = field(default_factory=list)  # stream-level damage, bombs
    odd: list[str] = field(default_factory=list)  # anything else not a clean valid policy

    @property
    def clean(self) -> bool:
        return not (self.unsafe or self.mangled or self.odd)


def nested_json(depth: int) -> bytes:
    return ('{"zonegate": {"deep": ' + "[" * depth + "1" + "]" * depth + "}}").encode()


def nested_rego(depth: int) -> bytes:
    return ("package zonegate.deep\n\nx := " + '[{"a": ' * depth + "1" + "}]" * depth
            + "\n").encode()


def hard_contents(outside: Path) -> st.SearchStrategy[bytes]:
    """File contents that are wrong in the ways parsers choke on."""
    return st.one_of(
        st.sampled_from(SYNTAX_ERRORS).map(str.encode),
        st.integers(1, 4000).map(nested_json),
        st.integers(2, 40).map(nested_rego),
        st.binary(max_size=300),
        st.sampled_from([b"", b"\xff\xfe\x00", b"\x1f\x8b\x08\x00", b"null", b"[]", b"1e999",
                         b'{"a": NaN}', b'{"zonegate": {"x": "\\ud800"}}', b"{" * 10,
                         f"package x\n\nimport data.{outside.name}\n".encode()]),
        st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    )


def odd_names(outside: Path) -> st.SearchStrategy[tuple[str, str | None]]:
    """(name, why it is unsafe or None): absolute, traversing, non-UTF-8, hidden, long."""
    unsafe = [("../evil.rego", "dotdot"), ("a/../../evil.rego", "dotdot"),
              ("../" * 12 + str(outside).lstrip("/") + "/pwned.rego", "dotdot"),
              ("..", "dotdot"), ("x/..", "dotdot"), ("/../evil.rego", "dotdot"),
              ("a\\..\\..\\evil.rego", "backslash")]
    other = [(str(outside / "pwned.rego"), None), ("/authz.rego", None), ("./data.json", None),
             (".hidden.rego", None), (".signatures.json", None), ("x.txt", None),
             ("a//b.rego", None), ("./././x.rego", None), ("x" * 300 + ".rego", None),
             ("d\x01.rego", None), ("\u202e.rego", None), (" .rego", None)]
    return st.one_of(st.sampled_from(unsafe), st.sampled_from(other),
                     st.sampled_from(NON_UTF8).map(lambda n: (n, None)),
                     st.text(min_size=1, max_size=60).map(lambda t: (t + ".rego", None)),
                     surrogate_text.map(lambda t: (t + ".json", None)))


def base_files(nonce: str, zones: list[str], layout: str) -> dict[str, bytes]:
    """A valid, tested policy; `nonce` makes its content unique."""
    if layout == "bundle":
        data = {"zonegate": {"zones": {"open": zones}, "nonce": nonce}}
        return {"authz.rego": AUTHZ.encode(), "authz_test.rego": TESTS.encode(),
                "data.json": json.dumps(data).encode()}
    return {"authz.rego": AUTHZ.encode(), "authz_test.rego": TESTS.encode(),
            "data/zones.json": json.dumps({"open": zones, "nonce": nonce}).encode()}


valid_zones = st.lists(st.sampled_from(ZONES), min_size=1, max_size=3, unique=True).map(
    lambda z: z if "open" in z else ["open", *z])


def regular_member(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    return info, data


def tar_stream(members: list[tuple[tarfile.TarInfo, bytes]], fmt: Literal[0, 1, 2]) -> bytes:
    """The tar stream, written header by header: a header may declare more than follows."""
    out = bytearray()
    for info, data in members:
        try:
            out += info.tobuf(fmt, "utf-8", "surrogateescape")
        except ValueError:  # a name ustar cannot hold
            out += info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        out += data + b"\0" * (-len(data) % 512)
    return bytes(out + b"\0" * 1024)


@st.composite
def odd_member(draw: st.DrawFn, outside: Path, traits: Traits
               ) -> tuple[tarfile.TarInfo, bytes]:
    kind = draw(st.sampled_from(["name", "name", "symlink", "hardlink", "device", "fifo",
                                 "dir", "huge"]))
    if kind == "name":
        name, why = draw(odd_names(outside))
        (traits.unsafe if why else traits.odd).append(f"name:{name!r:.60}")
        return regular_member(name, draw(st.sampled_from([b"package x\n", b"{}"])))
    if kind in ("symlink", "hardlink"):
        info = tarfile.TarInfo(draw(st.sampled_from(["evil.rego", "data.json", "sub/x.rego"])))
        info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
        info.linkname = draw(st.sampled_from([str(outside / "pwned.rego"), "/etc/passwd",
                                              "../../../etc/passwd", "authz.rego"]))
        traits.unsafe.append(f"{kind}->{info.linkname}")
        return info, b""
    if kind in ("device", "fifo"):
        info = tarfile.TarInfo("dev.rego")
        info.type = draw(st.sampled_from([tarfile.CHRTYPE, tarfile.BLKTYPE])) \
            if kind == "device" else tarfile.FIFOTYPE
        traits.unsafe.append(kind)
        return info, b""
    if kind == "dir":
        info = tarfile.TarInfo(draw(st.sampled_from(["sub", "sub/", "/", "./"])))
        info.type = tarfile.DIRTYPE
        traits.odd.append("dir")
        return info, b""
    info = tarfile.TarInfo("huge.rego")  # declares far more than the stream holds
    info.size = draw(st.sampled_from([65 * 2**20, 2**33, 10**12]))
    traits.mangled.append(f"declared {info.size}")
    return info, b"package huge\n"


def hard_member(draw: st.DrawFn, outside: Path, files: dict[str, bytes], traits: Traits
                ) -> None:
    """Give one file (a policy file, or a new one) contents that parsers find hard."""
    name = draw(st.sampled_from([*files, "extra.rego", "sub/data.json", ".manifest"]))
    files[name] = draw(hard_contents(outside))
    traits.odd.append(f"content:{name}")


MANGLES = ("truncate", "append", "flip", "plain-tar", "double-gzip", "empty", "random",
           "inflates")


@st.composite
def bundle_archives(draw: st.DrawFn, outside: Path) -> tuple[bytes, Traits]:
    """A .tar.gz: usually a valid policy, often with odd members, sometimes mangled."""
    traits = Traits()
    members = []
    if draw(st.integers(0, 7)) > 0:
        prefix = draw(st.sampled_from(["", "", "/", "./"]))
        files = base_files(uuid.UUID(int=draw(st.integers(0, 2**64))).hex,
                           draw(valid_zones), "bundle")
        for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2]))):
            hard_member(draw, outside, files, traits)
        members = [regular_member(prefix + name, raw) for name, raw in files.items()]
    else:
        traits.odd.append("no-policy")
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2]))):
        members.insert(draw(st.integers(0, len(members))), draw(odd_member(outside, traits)))
    if members and draw(st.integers(0, 9)) == 0:  # the same name twice
        members.append(members[draw(st.integers(0, len(members) - 1))])
        traits.odd.append("duplicate")
    fmt: Literal[0, 1, 2] = draw(st.sampled_from(
        [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT]))
    archive = gzip.compress(tar_stream(members, fmt), mtime=0)
    mangle = draw(st.sampled_from(MANGLES)) if draw(st.integers(0, 5)) == 0 else None
    if mangle is not None:
        traits.mangled.append(mangle)
        archive = _mangle(draw, archive, mangle)
    return archive, traits


def _mangle(draw: st.DrawFn, archive: bytes, how: str) -> bytes:
    if how == "truncate":
        return archive[:draw(st.integers(0, len(archive) - 1))]
    if how == "append":
        return archive + draw(st.binary(min_size=1, max_size=64))
    if how == "flip":
        at = draw(st.integers(0, len(archive) - 1))
        return archive[:at] + bytes([archive[at] ^ 0xFF]) + archive[at + 1:]
    if how == "plain-tar":
        return gzip.decompress(archive)
    if how == "double-gzip":
        return gzip.compress(archive, mtime=0)
    if how == "empty":
        return b""
    if how == "random":
        return draw(st.binary(max_size=2048))
    # a member of 9 MB of zeros: a few KB compressed, past every unpacked limit
    return gzip.compress(tar_stream([regular_member("big.json", b"\0" * (9 * 2**20))],
                              tarfile.PAX_FORMAT), mtime=0)


@st.composite
def multipart_bodies(draw: st.DrawFn, outside: Path, archives: st.SearchStrategy[
        tuple[bytes, Traits]]) -> tuple[str, bytes, Traits]:
    """(Content-Type, body): file parts of a valid policy, odd parts, damaged framing."""
    traits = Traits()
    parts: list[tuple[bytes, bytes]] = []  # (headers, body)
    if draw(st.integers(0, 3)) > 0:
        files = base_files(uuid.UUID(int=draw(st.integers(0, 2**64))).hex,
                           draw(valid_zones), "directory")
        parts = [(b'Content-Disposition: form-data; name="file"; filename="%s"\r\n'
                  b"Content-Type: text/plain\r\n" % name.encode(), raw)
                 for name, raw in files.items()]
    else:
        traits.odd.append("no-policy")
    for _ in range(draw(st.integers(0, 3))):
        parts.insert(draw(st.integers(0, len(parts))), draw(_odd_part(outside, archives)))
        traits.odd.append("part")
    boundary = draw(st.sampled_from(["zgboundary", "----WebKitFormBoundary7MA4YWxkTrZu0gW",
                                     "a" * 70, "b=c", "x y"]))
    body = b"".join(b"--%s\r\n%s\r\n%s\r\n" % (boundary.encode(), head, raw)
                    for head, raw in parts) + b"--%s--\r\n" % boundary.encode()
    content_type = f'multipart/form-data; boundary="{boundary}"'
    damage = draw(st.sampled_from(["truncate", "no-close", "lf-only", "wrong-boundary",
                                   "no-boundary", "huge-part"])) \
        if draw(st.integers(0, 3)) == 0 else None
    if damage is not None:
        traits.mangled.append(damage)
        if damage == "truncate":
            body = body[:draw(st.integers(0, len(body)))]
        elif damage == "no-close":
            body = body.rsplit(b"--%s--" % boundary.encode(), 1)[0]
        elif damage == "lf-only":
            body = body.replace(b"\r\n", b"\n")
        elif damage == "wrong-boundary":
            content_type = "multipart/form-data; boundary=other"
        elif damage == "no-boundary":
            content_type = "multipart/form-data"
        else:  # one file over the per-file limit (1 MiB)
            body = body.replace(b"--%s--" % boundary.encode(),
                                b'--%s\r\nContent-Disposition: form-data; name="f"; '
                                b'filename="big.json"\r\n\r\n"%s"\r\n--%s--'
                                % (boundary.encode(), b"x" * (2**20 + 1), boundary.encode()))
    return content_type, body, traits


@st.composite
def _odd_part(draw: st.DrawFn, outside: Path,
              archives: st.SearchStrategy[tuple[bytes, Traits]]) -> tuple[bytes, bytes]:
    name, _ = draw(odd_names(outside))
    encoded = surrogate_name(name)
    disposition = draw(st.sampled_from([
        b'form-data; name="file"; filename="%s"' % encoded,
        b"form-data; name=\"file\"; filename*=UTF-8''%s" % quote_from_bytes(encoded).encode(),
        b"form-data; name=\"file\"; filename*=UTF-8''%FF%FE.rego",
        b'form-data; name="file"',
        b'form-data; filename=""',
        b'form-data; filename="a.rego"; filename="b.rego"',
        b"attachment",
    ]))
    head = b"Content-Disposition: " + disposition + b"\r\n"
    if draw(st.booleans()):
        head += draw(st.sampled_from([b"Content-Transfer-Encoding: base64\r\n",
                                      b"Content-Transfer-Encoding: quoted-printable\r\n",
                                      b"Content-Type: multipart/mixed; boundary=inner\r\n",
                                      b"Content-Type: application/gzip\r\n",
                                      b"Content-Type: text/plain; charset=utf-16\r\n"]))
    body = draw(st.one_of(hard_contents(outside), archives.map(lambda a: a[0])))
    return head, body
