"""The alert line at the terminal: the reader's words, the site's clock, the meter's step.

Expected lines are written out by hand: 2025-12-01 00:00:05 UTC is 08:00:05 in Shanghai
(UTC+8, no DST) and 01:00:05 in Berlin (UTC+1 in December); 7.467 ppm on a 0.1 ppm meter
reads 7.5.
"""

from __future__ import annotations

import datetime as dt

from rich.console import Console

from hazmon.acquisition.alert_routes import ConsoleRoute, Notice
from hazmon.acquisition.alerts import Alert, AlertWords, format_alert

TS = int(dt.datetime(2025, 12, 1, 0, 0, 5, tzinfo=dt.UTC).timestamp()) * 10**9
CO = Alert(TS, "raise", "gd-1", "co", 2, 0, 7.467, "ppm", "GB/T 50493-2019 §5.5.2(2)")
STEP = {"gd-1/co": 0.1}


def test_a_chinese_line_names_the_levels_as_gbt_50493_does() -> None:
    line = format_alert(CO, AlertWords(locale="zh_CN", resolutions=STEP)).plain
    assert (
        line
        == "08:00:05 报警        gd-1/co 正常 → 二级报警：7.5 ppm（GB/T 50493-2019 第 5.5.2(2) 条）"
    )


def test_the_english_line_and_the_sites_zone() -> None:
    words = AlertWords(locale="en", zone="Europe/Berlin", resolutions=STEP)
    line = format_alert(CO, words).plain
    assert (
        line
        == "01:00:05 ALARM       gd-1/co normal → A2 at 7.5 ppm (GB/T 50493-2019 clause 5.5.2(2))"
    )


def test_a_clause_the_tables_give_in_words_reads_as_the_papers_write_it() -> None:
    leak = Alert(
        TS,
        "raise",
        "pid-1",
        "voc",
        2,
        0,
        6141.0,
        "ppm",
        "GB 37822 §equipment and piping leaks (clause unconfirmed)",
    )
    line = format_alert(leak, AlertWords(locale="zh_CN")).plain
    assert line.endswith("（GB 37822 设备与管线组件泄漏（条款未核实））"), line


def test_without_a_step_the_value_keeps_four_significant_digits() -> None:
    line = format_alert(CO, AlertWords(locale="en")).plain
    assert " at 7.467 ppm " in line


def test_every_kind_has_its_chinese_word(chinese: None) -> None:
    # The default words are the command line's (here Chinese) and Shanghai's clock.
    clear = Alert(TS, "clear", "gd-1", "co", 0, 1, 2.0, "ppm", "no rule")
    assert (
        format_alert(clear).plain
        == "08:00:05 解除        gd-1/co 一级报警 → 正常：2 ppm（无适用条款）"
    )
    ease = Alert(TS, "de-escalate", "gd-1", "co", 1, 2, 12.0, "ppm", "x")
    assert format_alert(ease).plain.startswith("08:00:05 减弱        gd-1/co 二级报警 → 一级报警")
    for kind, word in (
        ("comm_fault", "通信故障"),
        ("sensor_fault", "传感器故障"),
        ("store_down", "存储中断"),
        ("register_down", "台账中断"),
        ("message_gap", "报文缺失"),
    ):
        alert = Alert(TS, kind, "gd-1", "co", 0, 0, None, "", "")  # type: ignore[arg-type]
        assert f" {word} " in format_alert(alert).plain, kind


def test_the_console_route_prints_in_the_given_words() -> None:
    console = Console(record=True, width=200)
    route = ConsoleRoute(console, words=AlertWords(locale="zh_CN", resolutions=STEP))
    route.offer(Notice("alert", CO, 1, "site", CO.key, {}, True, suppressed=2))
    route.offer(Notice("ack", CO, 1, "site", CO.key, {}, True, acknowledged_by="张伟"))
    text = console.export_text()
    assert "二级报警：7.5 ppm" in text
    assert "（另有 2 条已合并）" in text
    assert "08:00:05 确认        gd-1/co，确认人 张伟" in text


def test_a_sensor_line_says_the_flags_in_words() -> None:
    due = Alert(TS, "sensor_fault", "gd-1", "co", 0, 0, 3.0, "ppm", "", "CALIBRATION_DUE|WARMUP")
    chinese = AlertWords(locale="zh_CN")
    assert format_alert(due, chinese).plain.endswith("gd-1/co: 超过检定有效期，预热中")
    back = Alert(TS, "sensor_restored", "gd-1", "co", 0, 0, 3.0, "ppm", "", "clear of WARMUP")
    assert format_alert(back, chinese).plain.endswith("gd-1/co: 预热中 已消除")
    assert format_alert(due, AlertWords(locale="en")).plain.endswith(": CALIBRATION_DUE|WARMUP")
    odd = Alert(TS, "sensor_fault", "gd-1", "co", 0, 0, 3.0, "ppm", "", "status bit 3")
    assert format_alert(odd, chinese).plain.endswith(": status bit 3")  # other text stays
