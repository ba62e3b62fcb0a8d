"""One finding sentence (store/hazard_list.event_in_words) for the desk and the papers.

The expected sentences are written out by hand from the catalog's wording.
"""

from __future__ import annotations

from hazmon.config.i18n import context_translator, translator
from hazmon.store.hazard_list import EventFacts, event_in_words

METHANE = EventFacts(
    quantity="lel",
    substance="methane",
    device="gd-1",
    level=2,
    side=1,
    limit=50.0,
    unit="%LEL",
    duration_s=44.2,
    peak=55.94,
    peak_ts=0,
)

OXYGEN = EventFacts(
    quantity="o2",
    substance="",
    device="o2-3",
    level=None,
    side=-1,
    limit=None,
    unit="%VOL",
    duration_s=12.0,
    peak=None,
)


def test_the_paper_reads_the_formal_chinese() -> None:
    words = event_in_words(METHANE, translator("zh_CN"), paper=context_translator("zh_CN"))
    assert words == (
        "gd-1 监测的可燃气体浓度（甲烷）达到二级报警，高于报警设定值 50 %LEL，"
        "持续约 44.2 秒，峰值 55.9 %LEL"
    )


def test_a_part_not_known_is_left_out_not_dashed() -> None:
    # A lower limit with no recorded level, set point or peak: the sentence says what is known.
    words = event_in_words(OXYGEN, translator("zh_CN"), paper=context_translator("zh_CN"))
    assert words == "o2-3 监测的氧气浓度达到报警，持续约 12 秒"
    english = event_in_words(OXYGEN, translator("en"), paper=context_translator("en"))
    assert english == "o2 measured by o2-3 reached an alarm for about 12 s"


def test_the_desk_sentence_keeps_its_short_wording_and_the_peak_time() -> None:
    words = event_in_words(METHANE, translator("zh_CN"), lambda ns: f"t{ns}")
    assert words.startswith("gd-1 的")
    assert "A2 级：达到或超过设定值 50 %LEL，持续 44.2 秒，峰值 55.94 %LEL（t0）" in words
