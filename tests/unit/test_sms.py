"""SMS text: GSM-7 where only typography would force UCS-2, segments, sensible splits."""

from bot.sms import gsm_friendly, segments, split_long


def test_typography_is_replaced_but_real_accents_are_kept():
    assert gsm_friendly("CHF 1’234.50 – «bis» 18:30…") == 'CHF 1\'234.50 - "bis" 18:30...'
    assert gsm_friendly("Prise en charge : être prêt") == "Prise en charge : être prêt"


def test_segment_count_by_encoding():
    assert segments("a" * 160) == ("gsm7", 1)
    assert segments("a" * 161) == ("gsm7", 2)
    assert segments("a" * 306) == ("gsm7", 2) and segments("a" * 307) == ("gsm7", 3)
    assert segments("€" * 80) == ("gsm7", 1) and segments("€" * 81) == ("gsm7", 2)
    assert segments("ê" + "a" * 69) == ("ucs2", 1)
    assert segments("ê" + "a" * 70) == ("ucs2", 2)
    assert segments("CHF 1’234.50")[0] == "ucs2"
    assert segments(gsm_friendly("CHF 1’234.50"))[0] == "gsm7"
    assert segments("😀" * 35) == ("ucs2", 1)  # an emoji is two UTF-16 units


def test_long_text_splits_at_paragraphs_then_words():
    paragraphs = "\n\n".join(f"Absatz {i}: " + "wort " * 60 for i in range(8))
    parts = split_long(paragraphs, limit=1600)
    assert all(len(p) <= 1600 for p in parts) and len(parts) == 2
    assert all(p.startswith("Absatz") for p in parts)
    words = split_long("wort " * 500, limit=1600)
    assert all(len(p) <= 1600 and not p.endswith(" ") for p in words)
    assert " ".join(words).split() == ("wort " * 500).split()
    assert split_long("kurz") == ["kurz"]
