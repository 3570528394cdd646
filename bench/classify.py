"""classify: span precision/recall/F1 per type, level accuracy, throughput, and Presidio.

    python -m bench.classify [--docs N] [--mb MB]

The corpus is generated at run time with a fixed seed (bench/classify_corpus.py). Presidio
runs with its pattern recognizers only (email, credit card, IP, phone) on a blank spaCy
pipeline, because no NLP model can be installed here; it is compared on those types only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable

from bench._report import report
from bench.classify_corpus import Document, Generator
from classify import NATIVE_MODE, Classifier
from classify.levels import rank

CN_TYPES = ("cn_resident_id", "cn_mobile", "cn_landline", "bank_card", "cn_uscc",
            "cn_passport", "hk_macau_permit", "cn_license_plate")
SHARED = {"email": "email", "bank_card": "card", "ipv4": "ip", "ipv6": "ip",
          "cn_mobile": "phone", "cn_landline": "phone"}
PRESIDIO_MAP = {"EMAIL_ADDRESS": "email", "CREDIT_CARD": "card", "IP_ADDRESS": "ip",
                "PHONE_NUMBER": "phone"}
Span = tuple[str, int, int]


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def _score(gold: Iterable[set[Span]], pred: Iterable[set[Span]]) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = {}
    for g, p in zip(gold, pred, strict=True):
        for kind, *_ in g | p:
            counts.setdefault(kind, Counter())
        for span in g & p:
            counts[span[0]]["tp"] += 1
        for span in p - g:
            counts[span[0]]["fp"] += 1
        for span in g - p:
            counts[span[0]]["fn"] += 1
    return counts


def _mbps(fn: Callable[[], object], size: int, repeat: int = 3) -> float:
    """MB per CPU-second of this process: per-core speed, less distorted by a shared box."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return size / best / 1e6


def _presidio() -> tuple[Callable[[str], set[Span]] | None, str]:
    try:
        import spacy
        import tldextract
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import SpacyNlpEngine
        from presidio_analyzer.predefined_recognizers import (
            CreditCardRecognizer,
            EmailRecognizer,
            IpRecognizer,
            PhoneRecognizer,
        )
    except ImportError as exc:
        return None, f"presidio-analyzer is not installed ({exc})"
    # Offline: the e-mail recognizer's tldextract must not fetch the public suffix list.
    tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=())

    class BlankNlp(SpacyNlpEngine):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(models=[{"lang_code": "en", "model_name": "blank"}])

        def load(self) -> None:
            self.nlp = {"en": spacy.blank("en")}

    engine = BlankNlp()
    engine.load()
    registry = RecognizerRegistry(supported_languages=["en"])
    for recognizer in (EmailRecognizer(), CreditCardRecognizer(), IpRecognizer(),
                       PhoneRecognizer(supported_regions=("CN",))):
        registry.add_recognizer(recognizer)
    analyzer = AnalyzerEngine(nlp_engine=engine, registry=registry, supported_languages=["en"])

    def run(text: str) -> set[Span]:
        return {(PRESIDIO_MAP[r.entity_type], r.start, r.end)
                for r in analyzer.analyze(text, language="en") if r.score >= 0.4}

    return run, "presidio-analyzer pattern recognizers, blank spaCy 'en', score >= 0.4"


def _json_record(g: Generator) -> dict[str, object]:
    number, _ = g.resident_id()
    return {"id": 7, "status": "active", "patient": {
        "name": g.fake.name(), "id_card": number, "phone": g.mobile(),
        "address": g.address(), "diagnosis": "高血压"},
        "visits": [{"date": "2026-11-01", "dept": "心内科", "note": g.fake.sentence()}
                   for _ in range(4)],
        "device": {"ip": g.fake.ipv4(), "ua": "Mozilla/5.0 (X11; Linux x86_64)"}}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.classify")
    parser.add_argument("--docs", type=int, default=3000)
    parser.add_argument("--mb", type=float, default=8.0, help="size of the throughput text")
    parser.add_argument("--presidio-docs", type=int, default=600)
    args, _ = parser.parse_known_args()

    gen = Generator()
    docs: list[Document] = gen.corpus(args.docs)
    clf = Classifier.default()
    gold = [{(k, s, e) for k, s, e in d.spans} for d in docs]
    results = [clf.scan_text(d.text) for d in docs]
    pred = [{(f.type, f.start, f.end) for f in r.findings} for r in results]
    counts = _score(gold, pred)
    rows: list[dict[str, object]] = []
    cn_tp = cn_fp = cn_fn = 0
    for kind in sorted(counts):
        c = counts[kind]
        p, r, f1 = _prf(c["tp"], c["fp"], c["fn"])
        if kind in CN_TYPES:
            cn_tp, cn_fp, cn_fn = cn_tp + c["tp"], cn_fp + c["fp"], cn_fn + c["fn"]
        rows.append({"metric": f"{kind} P/R/F1", "zonegate": f"{p:.3f}/{r:.3f}/{f1:.3f}",
                     "presidio": None, "target": ">= 0.97 F1" if kind in CN_TYPES else "",
                     "n": c["tp"] + c["fn"]})
    _, _, cn_f1 = _prf(cn_tp, cn_fp, cn_fn)
    rows.append({"metric": "Chinese identifiers micro F1", "zonegate": round(cn_f1, 4),
                 "presidio": None, "target": ">= 0.97", "n": cn_tp + cn_fn})
    levels_ok = sum(r.level == d.level() for r, d in zip(results, docs, strict=True))
    l4 = [(r, d) for r, d in zip(results, docs, strict=True) if rank(d.level()) >= rank("L4")]
    under = sum(rank(r.level) < rank(d.level()) for r, d in l4)
    rows.append({"metric": "level accuracy", "zonegate": round(levels_ok / len(docs), 4),
                 "presidio": None, "target": "", "n": len(docs)})
    rows.append({"metric": "under-classification (true L4+ graded lower)",
                 "zonegate": round(under / max(len(l4), 1), 4), "presidio": None,
                 "target": "<= 0.01", "n": len(l4)})

    # Throughput, one core, 1 MiB chunks, on three densities of sensitive values.
    corpus_text = "\n".join(d.text for d in docs)
    prose_lines = [gen.fake.paragraph(nb_sentences=8) for _ in range(6000)]
    prose = "\n".join(prose_lines)
    mixed_lines: list[str] = []
    for index, line in enumerate(prose_lines):  # about one finding per KB
        mixed_lines.append(line)
        if index % 5 == 0:
            mixed_lines.append(docs[index % len(docs)].text)
    mixed = "\n".join(mixed_lines)
    for label, body, target in (("dense corpus", corpus_text, ""),
                                ("mixed text", mixed, ">= 20"),
                                ("prose without PII", prose, "")):
        reps = max(1, int(args.mb * 1e6 // len(body.encode())))
        big = "\n".join([body] * reps)
        size = len(big.encode())
        chunks = [big[i:i + (1 << 20)] for i in range(0, len(big), 1 << 20)]
        found = len(clf.scan_chunks(chunks).findings)
        rows.append({"metric": f"MB/s {label} ({found * 1000 / size:.1f} findings/KB)",
                     "zonegate": round(_mbps(lambda c=chunks: clf.scan_chunks(c), size), 1),
                     "presidio": None, "target": target, "n": size})

    # The gateway's case: one ~1 KB JSON response per call.
    record = _json_record(gen)
    latencies = []
    for _ in range(2000):
        t0 = time.perf_counter()
        clf.mask_json(record, above="L3")
        latencies.append(time.perf_counter() - t0)
    rows.append({"metric": "mask_json ~1 KB, median µs", "zonegate": round(
        statistics.median(latencies) * 1e6, 1), "presidio": None, "target": "",
        "n": len(json.dumps(record, ensure_ascii=False).encode())})
    latencies.sort()
    rows.append({"metric": "mask_json ~1 KB, p99 µs", "zonegate": round(
        latencies[int(len(latencies) * 0.99)] * 1e6, 1), "presidio": None, "target": "",
        "n": len(latencies)})
    t0 = time.perf_counter()
    Classifier(clf.catalog)
    rows.append({"metric": "build Classifier (compile), ms", "zonegate": round(
        (time.perf_counter() - t0) * 1e3, 1), "presidio": None, "target": "", "n": 1})

    notes = [f"corpus: {len(docs)} documents, seed 20261125, {len(corpus_text):,} characters",
             "MB/s is bytes of UTF-8 per CPU-second of this process (one core), best of 3",
             f"classify build: {NATIVE_MODE}",
             f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"]
    presidio, how = _presidio()
    notes.append(f"presidio: {how}")
    if presidio is not None:
        subset = docs[:args.presidio_docs]
        sub_gold = [{(SHARED[k], s, e) for k, s, e in d.spans if k in SHARED} for d in subset]
        ours = [{(SHARED[f.type], f.start, f.end) for f in clf.scan_text(d.text).findings
                 if f.type in SHARED} for d in subset]
        theirs = [presidio(d.text) for d in subset]
        ours_c, theirs_c = _score(sub_gold, ours), _score(sub_gold, theirs)
        for kind in ("email", "card", "ip", "phone"):
            o, t = ours_c.get(kind, Counter()), theirs_c.get(kind, Counter())
            rows.append({"metric": f"shared F1 {kind}",
                         "zonegate": round(_prf(o["tp"], o["fp"], o["fn"])[2], 4),
                         "presidio": round(_prf(t["tp"], t["fp"], t["fn"])[2], 4),
                         "target": "", "n": o["tp"] + o["fn"]})
        sub_text = "\n".join(d.text for d in subset)
        sub_size = len(sub_text.encode())
        presidio(subset[0].text)  # warm both up: the first call compiles and loads
        clf.scan_text(subset[0].text)
        ours_speed = _mbps(lambda: [clf.scan_text(d.text) for d in subset], sub_size)
        theirs_speed = _mbps(lambda: [presidio(d.text) for d in subset], sub_size, repeat=2)
        rows.append({"metric": "MB/s same documents, one call each",
                     "zonegate": round(ours_speed, 2), "presidio": round(theirs_speed, 3),
                     "target": ">= 10x", "n": sub_size})
        rows.append({"metric": "speed ratio zonegate/presidio",
                     "zonegate": round(ours_speed / theirs_speed, 1), "presidio": 1.0,
                     "target": ">= 10", "n": len(subset)})
    report("classify", rows, title="classify: quality and speed", notes=notes)


if __name__ == "__main__":
    main()
