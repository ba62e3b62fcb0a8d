"""Full evaluation of readings against every applicable limit, batch or streaming.

:func:`evaluate` judges a whole record; :class:`StreamingEvaluator` judges the same
readings fed in time-ordered chunks and, after :meth:`StreamingEvaluator.finish`,
gives the same results (a Hypothesis test over random chunkings proves it). Both run
the same accumulator; the batch feeds it the readings in slices and then all minute
bins at once.

Per channel the streaming state is bounded: the channel's last reading (its hold is
known only when the next one arrives), at most one unfinished minute bin, the last
480 finished minute bins (the moving 8-hour window) and a few dozen numbers. Raw
readings are never buffered.

The pipeline, per chunk and for every channel at once:

1. sort by channel, time; hold each value until the next reading, up to ``max_gap``
   (:mod:`hazmon.analysis.sampling`); the rest of a longer gap is missing and counted;
2. cut held values into 1-minute bins (integral, covered time, min, max, count); noise
   integrates sound energy ``10^(0.1 L)``, concentrations are clamped at 0 first;
3. finished bins feed: totals, daily sums (shift TWA, L_EX,8h, impulses a day), the
   15-minute and 480-minute window maxima (STEL, moving TWA), excursion runs;
4. readings feed level evaluation and event extraction, each event with its dose
   above the limit.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hazmon.analysis.alarms import (
    DEFAULT_LATCHING,
    AlarmCarry,
    AlarmLevels,
    AlarmPolicy,
    alarm_levels,
)
from hazmon.analysis.events import Event, EventTracker
from hazmon.analysis.exposure import (
    CHINA_DAY_OFFSET_S,
    SHIFT_MINUTES,
    SHIFT_S,
    STEL_MINUTES,
    STEL_S,
    day_number,
    excursion_runs,
)
from hazmon.analysis.heat import wbgt_limit_row
from hazmon.analysis.limits import ALARM, LEVEL_NAMES, PRE_ALARM, LimitTable, evaluate_levels
from hazmon.analysis.noise import allowed_impulse_peak, energy_level, sound_energy
from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.analysis.sampling import (
    MINUTE_NS,
    NS_PER_S,
    MinuteBins,
    bin_key,
    channel_time_order,
    hold_durations,
    merge_bins,
    minute_bins,
    neighbour_times,
    window_sums,
)
from hazmon.analysis.units import REFERENCE_20C, ReferenceState, mg_m3_to_ppm
from hazmon.config.catalogue import UnknownUnitError, load_catalogue
from hazmon.config.i18n import N_
from hazmon.config.standards import LimitRow, LimitRule, SetPoint, SiteLimits

#: "No minute yet": far enough below any minute that differences do not overflow.
NO_MINUTE = -(2**62)

#: Integrand kinds: the value as read, the value clamped at 0, sound energy.
RAW, CLAMPED, ENERGY = 0, 1, 2

#: Quantities whose time integral is an exposure (negative readings clamp to 0).
EXPOSURE_QUANTITIES = frozenset(
    {"co", "h2s", "nh3", "cl2", "so2", "no2", "hcn", "hcl", "ph3", "benzene"}
    | {"dust_total", "dust_respirable", "pm2_5", "pm10"}
)
DUST_QUANTITIES = frozenset({"dust_total", "dust_respirable", "pm2_5", "pm10"})
#: Row kinds compared with a channel's instantaneous maximum (upper) or minimum (lower).
UPPER_KINDS = frozenset(
    {
        "mac",
        "upper",
        "leak_definition",
        "repair_threshold",
        "surface_temperature_max",
        "rcd_trip_current",
    }
)
LOWER_KINDS = frozenset({"lower", "required_thickness"})
#: Kinds at or above which a reading fails (a leak "is" at the screening value).
AT_OR_ABOVE_FAILS = frozenset({"leak_definition", "repair_threshold"})


class Reason(str):
    """Why something is not judged: the English text (what JSON and logs carry), with
    the catalog's msgid and its fields so a command can say it in its reader's words.

    ``Reason(N_("no limit applies to quantity {quantity}"), quantity="'co'")`` is the
    string ``no limit applies to quantity 'co'``; ``reason.translated(_)`` is the same
    in ``_``'s language.
    """

    message: str
    params: dict[str, str]

    def __new__(cls, message: str, **params: str) -> Reason:
        self = super().__new__(cls, message.format(**params))
        self.message = message
        self.params = params
        return self

    def translated(self, gettext: Callable[[str], str]) -> str:
        """The reason in ``gettext``'s language (a field that is itself a msgid, a
        clause described in words, is translated too)."""
        return gettext(self.message).format(
            **{key: gettext(value) for key, value in self.params.items()}
        )


def say(reason: str, gettext: Callable[[str], str]) -> str:
    """``reason`` in ``gettext``'s language when it is a :class:`Reason`; as is when it
    is plain text."""
    return reason.translated(gettext) if isinstance(reason, Reason) else reason


@dataclass(frozen=True, slots=True)
class EvaluationSettings:
    """How readings are held and grouped, and the workplace facts some limits need.

    Attributes
    ----------
    max_gap_s : [s]
        Longest time a reading's value is held; beyond it data is missing.
    day_offset_s : [s]
        Offset of local time from UTC: a "day" (for the shift TWA, L_EX,8h and the
        impulse count) is a local calendar day; UTC+8 by default.
    reference
        State for ppm ↔ mg/m³ (GBZ 2.1 limits are in mg/m³).
    event_level
        Lowest level whose runs are events (1, A1: an A1 excursion is an event).
    hazard_level
        Lowest event level that is a hazard (2, A2; a site may choose 1).
    shift_break_s : [s]
        A pause longer than this between a channel's readings starts a new shift
        (a recording session is a shift); used when ``shift_start_s`` is None.
    shift_start_s : [s]
        Site-declared local start of the shift after local midnight: shifts are then
        the 24-hour periods starting at it (a night shift 20:00–04:00 is one shift).
    nominal_shift_s : [s]
        Length of a shift for the sampled fraction (coverage) of a TWA or L_EX,8h.
    min_coverage
        Sampled fraction of the shift below which a passing TWA or L_EX,8h is "not
        judged" (a failing one still fails: unsampled time counts as zero).
    work_days_per_week
        Declared working days a week; None infers them from the shifts recorded in
        each calendar week (see :func:`week_judged_by_40h`).
    impulse_threshold : [dB(C)]
        Peak level whose upward crossings are counted as impulses; None: the lowest
        peak of the GBZ 2.2-2007 impulse table (120).
    labour_intensity, exposure_rate, hot_outdoor_design
        Pick the WBGT limit (GBZ 2.2-2007); without them WBGT has no verdict.
    temperature_class
        Ex temperature class for surface temperatures (``T1``–``T6``).
    alarm_hysteresis : [canonical unit] per quantity
        An upper set point's condition clears only below ``set point − band`` (a lower
        one's at or above ``set point + band``); none by default.
    alarm_min_duration_s : [s] per quantity
        A condition must hold this long before its level is reached; none by default.
    alarm_latching : levels per quantity
        Levels whose alarm stays raised after the condition clears until acknowledged
        (default: the combustible-gas ``lel`` A2 alarm). Latching changes the alarm
        shown and alerted, not the events: an event follows the condition.
    """

    max_gap_s: float = 300.0
    day_offset_s: int = CHINA_DAY_OFFSET_S
    reference: ReferenceState = REFERENCE_20C
    event_level: int = PRE_ALARM
    hazard_level: int = ALARM
    shift_break_s: float = 7200.0
    shift_start_s: int | None = None
    nominal_shift_s: float = SHIFT_S
    min_coverage: float = 1.0
    work_days_per_week: int | None = None
    impulse_threshold: float | None = None
    labour_intensity: str | None = None
    exposure_rate: float | None = None
    hot_outdoor_design: bool = False
    temperature_class: str | None = None
    alarm_hysteresis: Mapping[str, float] = field(default_factory=dict)
    alarm_min_duration_s: Mapping[str, float] = field(default_factory=dict)
    alarm_latching: Mapping[str, frozenset[int]] = field(
        default_factory=lambda: dict(DEFAULT_LATCHING)
    )

    @classmethod
    def from_site(cls, site: SiteLimits, **overrides: object) -> EvaluationSettings:
        """Settings from a site's ``[limits]`` table."""
        settings = cls(
            reference=ReferenceState(site.reference_temperature, site.reference_pressure),
            labour_intensity=site.labour_intensity,
            exposure_rate=site.exposure_rate,
            hot_outdoor_design=site.hot_outdoor_design,
            temperature_class=site.temperature_class,
            hazard_level=PRE_ALARM if site.a1_is_hazard else ALARM,
            shift_break_s=site.shift_break_hours * 3600.0,
            shift_start_s=_clock_seconds(site.shift_start),
            nominal_shift_s=site.shift_hours * 3600.0,
            min_coverage=site.min_coverage,
            work_days_per_week=site.work_days_per_week,
            alarm_hysteresis=dict(site.alarm_hysteresis),
            alarm_min_duration_s=dict(site.alarm_min_seconds),
            alarm_latching={
                quantity: frozenset(LEVEL_NAMES.index(name) for name in names)
                for quantity, names in site.alarm_latching.items()
            },
        )
        if overrides:
            from dataclasses import replace

            settings = replace(settings, **overrides)  # type: ignore[arg-type]
        return settings


def _clock_seconds(clock: str | None) -> int | None:
    """``"20:00"`` as seconds after midnight [s]; None stays None."""
    if clock is None:
        return None
    hours, minutes = clock.split(":")
    return int(hours) * 3600 + int(minutes) * 60


def week_judged_by_40h(shifts: int, declared: int | None) -> tuple[bool, bool]:
    """Whether a week's noise is judged by L_EX,8h, by L_EX,40h (both may be true).

    GBZ 2.2-2007: L_EX,8h for a 5-day working week, L_EX,40h for other weeks.
    ``declared`` working days win; without them the recorded shifts of the calendar
    week decide: 5 → L_EX,8h; 2–4 → L_EX,40h; 6 or 7 → both (either may fail);
    1 → L_EX,8h (a one-day measurement is read as a typical day of a 5-day week,
    never as a 1-day week, which would lower the figure by 7 dB).

    Returns
    -------
    tuple[bool, bool]
        (judged by L_EX,8h, judged by L_EX,40h)
    """
    days = declared if declared is not None else shifts
    if days == 5 or (declared is None and shifts == 1):
        return True, False
    if declared is None and shifts > 5:
        return True, True
    return False, True


@dataclass(frozen=True, slots=True)
class AppliedLimit:
    """A limit row applied to one channel, its value in the channel's unit.

    ``metric`` names the metric compared; ``upper`` says whether the metric must stay
    at or below the limit (else at or above it).
    """

    row: LimitRow
    metric: str
    limit: float
    upper: bool = True
    strict: bool = False

    @property
    def clause(self) -> str:
        """``standard clause`` (with ``§`` before a numbered clause)."""
        return citation(self.row.standard, self.row.clause)


def citation(standard: str, clause: str) -> str:
    """``GB/T 50493-2019 §5.5.2(1)`` or ``GBZ 2.1-2019 Table 1``."""
    return f"{standard} §{clause}" if clause[:1].isdigit() else f"{standard} {clause}"


def _convert_limit(row: LimitRow, channel: Channel, reference: ReferenceState) -> float | None:
    """The row's value in the channel's unit, or None when it cannot be converted."""
    if row.value is None:
        return None
    if row.unit in ("", channel.unit) or {row.unit, channel.unit} == {"ppm", "µmol/mol"}:
        return row.value
    if row.unit in ("mg/m³", "mg/m3") and channel.unit == "ppm" and row.molar_mass:
        return float(mg_m3_to_ppm(row.value, row.molar_mass, reference))
    try:
        conversion = load_catalogue().conversion(channel.quantity, row.unit)
    except UnknownUnitError:
        return None
    return row.value * conversion.scale + conversion.offset


def _matches(row: LimitRow, channel: Channel) -> bool:
    if row.device is not None and row.device != channel.device:
        return False
    if row.quantity is not None:
        return row.quantity == channel.quantity and (
            not channel.substance or not row.substance or row.quantity == channel.quantity
        )
    return bool(row.substance) and row.substance.lower() == (channel.substance or "").lower()


@dataclass(frozen=True, slots=True)
class ChannelPlan:
    """What is evaluated on each channel, laid out as arrays indexed by channel.

    Build it once with :meth:`build`; it holds the applied limits (for verdicts),
    the set-point table (for levels and events) and per-channel parameters.
    """

    channels: tuple[Channel, ...]
    settings: EvaluationSettings
    applied: tuple[tuple[AppliedLimit, ...], ...]
    integrand: NDArray[np.int8]
    family: tuple[str, ...]
    limits: LimitTable
    upper_event_threshold: NDArray[np.float64]
    lower_event_threshold: NDArray[np.float64]
    excursion_threshold: NDArray[np.float64]
    impulse_rows: tuple[LimitRow, ...]
    #: Per channel, why (part of) it cannot be judged (empty when nothing is missing).
    not_judged: tuple[tuple[str, ...], ...] = ()
    #: Per channel, the level whose upward crossings are impulses (NaN: not noise_peak).
    impulse_threshold: NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    #: Per channel, the A2 set points a verdict compares the extremes with.
    alarm_upper: NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    alarm_lower: NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    #: Hysteresis, minimum duration and latching of every set point.
    policy: AlarmPolicy | None = None
    #: Per channel, whether its levels depend on the past (the policy is not trivial).
    stateful: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, bool))

    @property
    def impulse_counts(self) -> tuple[float, ...]:
        """Daily impulse counts of the impulse-peak table (ascending)."""
        return tuple(float(row.qualifier("max_impulses") or 0) for row in self.impulse_rows)

    @property
    def impulse_peaks(self) -> tuple[float, ...]:
        """Peak allowed for each count of :attr:`impulse_counts` [dB(C)]."""
        return tuple(float(row.value or 0) for row in self.impulse_rows)

    def __len__(self) -> int:
        return len(self.channels)

    @classmethod
    def build(
        cls,
        channels: ChannelTable | Sequence[Channel],
        rows: Sequence[LimitRow],
        set_point_rules: Mapping[str, LimitRule],
        settings: EvaluationSettings | None = None,
    ) -> ChannelPlan:
        """Choose the limits and parameters of every channel.

        Parameters
        ----------
        channels
            The channel table the readings index.
        rows
            Limit rows in force (:func:`hazmon.config.standards.effective_limit_rows`).
        set_point_rules
            Alarm set points per quantity (GB/T 50493-2019 §5.5.2 by default); a
            channel without one gets a single A2 set point from its strictest
            instantaneous row (MAC, upper, lower, leak definition ...).
        settings
            Holding, day and reference-state settings.
        """
        settings = settings or EvaluationSettings()
        table = tuple(channels.channels if isinstance(channels, ChannelTable) else channels)
        count = len(table)
        impulse_rows = sorted(
            (row for row in rows if row.kind == "impulse_peak" and row.value is not None),
            key=lambda row: float(row.qualifier("max_impulses") or 0),
        )
        factor_row = next((row for row in rows if row.kind == "excursion_factor"), None)
        cap_row = next((row for row in rows if row.kind == "excursion_cap_factor"), None)
        excursion_rows = {row.kind: row for row in rows if row.kind.startswith("excursion_")}
        hot_allowance = next(
            (row.value for row in rows if row.kind == "wbgt_hot_outdoor_allowance"), None
        )
        applied_all: list[tuple[AppliedLimit, ...]] = []
        integrand = np.zeros(count, np.int8)
        family: list[str] = []
        excursion = np.full(count, np.nan)
        per_channel_rules: dict[str, LimitRule] = {}
        keys: list[str] = []
        reasons: list[tuple[str, ...]] = []
        impulse_threshold = np.full(count, np.nan)
        for number, channel in enumerate(table):
            matching = [row for row in rows if _matches(row, channel)]
            # A PC-TWA row a site selected (silica, coal dust ...) is the one that
            # applies: the default row of the same quantity ("other dust") gives way.
            if any(row.kind == "pc_twa" and not row.default for row in matching):
                matching = [row for row in matching if row.kind != "pc_twa" or not row.default]
            missing: list[str] = [
                Reason(
                    N_("{row} has no value (unconfirmed): set it in the site's [limits] rows"),
                    row=row.id,
                )
                for row in matching
                if row.value is None
            ]
            applied: list[AppliedLimit] = []
            kinds = {row.kind for row in matching}
            if channel.quantity == "noise":
                integrand[number], kind_name = ENERGY, "noise"
            elif channel.quantity == "noise_peak":
                kind_name = "noise_peak"
                if impulse_rows:
                    impulse_threshold[number] = (
                        settings.impulse_threshold
                        if settings.impulse_threshold is not None
                        else min(float(row.value or 0) for row in impulse_rows)
                    )
            elif channel.quantity in EXPOSURE_QUANTITIES or kinds & {"mac", "pc_twa", "pc_stel"}:
                integrand[number] = CLAMPED
                kind_name = "dust" if channel.quantity in DUST_QUANTITIES else "gas"
            else:
                kind_name = "level"
            family.append(kind_name)
            for row in matching:
                limit = _convert_limit(row, channel, settings.reference)
                if limit is None:
                    continue
                if row.kind == "pc_twa":
                    applied.append(AppliedLimit(row, "twa_8h", limit))
                elif row.kind == "pc_stel":
                    applied.append(AppliedLimit(row, "stel_max", limit))
                elif row.kind in ("lex_8h", "lex_40h"):
                    applied.append(AppliedLimit(row, row.kind, limit))
                elif row.kind == "surface_temperature_max":
                    if row.qualifier("temperature_class") == settings.temperature_class:
                        applied.append(AppliedLimit(row, "max", limit))
                elif row.kind in UPPER_KINDS:
                    applied.append(
                        AppliedLimit(row, "max", limit, strict=row.kind in AT_OR_ABOVE_FAILS)
                    )
                elif row.kind in LOWER_KINDS:
                    applied.append(AppliedLimit(row, "min", limit, upper=False))
            if channel.quantity == "wbgt" and settings.labour_intensity and settings.exposure_rate:
                cell = wbgt_limit_row(rows, settings.labour_intensity, settings.exposure_rate)
                if cell is not None and cell.value is not None:
                    extra = hot_allowance if settings.hot_outdoor_design and hot_allowance else 0.0
                    applied.append(AppliedLimit(cell, "mean", cell.value + extra))
            if channel.quantity == "surface_temperature" and settings.temperature_class is None:
                missing.append(
                    Reason(
                        N_(
                            "no temperature_class: set [limits] temperature_class (T1–T6) "
                            "in the site config"
                        )
                    )
                )
            if channel.quantity == "wbgt" and not (
                settings.labour_intensity and settings.exposure_rate
            ):
                missing.append(
                    Reason(
                        N_("no labour_intensity / exposure_rate: set them in the site's [limits]")
                    )
                )
            twa_rows = [a for a in applied if a.metric == "twa_8h"]
            if twa_rows and "pc_stel" not in kinds and factor_row and factor_row.value:
                # The PC-TWA that applies (the strictest where several do).
                twa = min(a.limit for a in twa_rows)
                excursion[number] = factor_row.value * twa
                for kind, metric, upper in (
                    ("excursion_max_count", "excursions_day_max", True),
                    ("excursion_max_duration", "excursion_longest_min", True),
                    ("excursion_min_spacing", "excursion_min_spacing_min", False),
                ):
                    rule_row = excursion_rows.get(kind)
                    if rule_row is not None and rule_row.value is not None:
                        applied.append(AppliedLimit(rule_row, metric, rule_row.value, upper=upper))
                if cap_row is not None and cap_row.value is not None:
                    applied.append(AppliedLimit(cap_row, "max", cap_row.value * twa))
            applied_all.append(tuple(applied))
            key = str(number)
            keys.append(key)
            rule = set_point_rules.get(channel.quantity)
            if rule is None:
                rule = _rule_from_rows(channel, applied)
            if rule is not None:
                per_channel_rules[key] = rule
            if not applied and rule is None and not missing:
                missing.append(
                    Reason(
                        N_("no limit applies to quantity {quantity} (substance {substance})"),
                        quantity=repr(channel.quantity),
                        substance=repr(channel.substance),
                    )
                    if channel.substance
                    else Reason(
                        N_("no limit applies to quantity {quantity}"),
                        quantity=repr(channel.quantity),
                    )
                )
            reasons.append(tuple(missing))
        limits = LimitTable.build(keys, per_channel_rules)
        upper_threshold, lower_threshold = _event_thresholds(limits, settings.event_level)
        alarm_upper, alarm_lower = _event_thresholds(limits, ALARM)
        policy, stateful = _alarm_policy(table, limits, settings)
        return cls(
            channels=table,
            settings=settings,
            applied=tuple(applied_all),
            integrand=integrand,
            family=tuple(family),
            limits=limits,
            upper_event_threshold=upper_threshold,
            lower_event_threshold=lower_threshold,
            excursion_threshold=excursion,
            impulse_rows=tuple(impulse_rows),
            not_judged=tuple(reasons),
            impulse_threshold=impulse_threshold,
            alarm_upper=alarm_upper,
            alarm_lower=alarm_lower,
            policy=policy,
            stateful=stateful,
        )


def _alarm_policy(
    channels: Sequence[Channel], limits: LimitTable, settings: EvaluationSettings
) -> tuple[AlarmPolicy, NDArray[np.bool_]]:
    """The site's hysteresis, minimum duration and latching laid out per set point.

    Returns
    -------
    policy : AlarmPolicy
    stateful : NDArray[np.bool_]
        Per channel: some set point has a band, a minimum duration or a latch, so its
        levels depend on earlier readings (the others are judged reading by reading).
    """
    quantities = [channel.quantity for channel in channels]
    band = np.array([settings.alarm_hysteresis.get(q, 0.0) for q in quantities], np.float64)
    hold_ns = np.array(
        [round(settings.alarm_min_duration_s.get(q, 0.0) * NS_PER_S) for q in quantities],
        np.int64,
    )
    policy = AlarmPolicy.from_limits(
        limits,
        hysteresis=band[:, None],
        min_duration_ns=hold_ns[:, None],
        latching=dict(settings.alarm_latching),
    )
    used = policy.direction != 0
    stateful = ((policy.hysteresis > 0) | (policy.min_duration_ns > 0) | policy.latch) & used
    return policy, np.asarray(stateful.any(axis=1), bool)


def _rule_from_rows(channel: Channel, applied: Sequence[AppliedLimit]) -> LimitRule | None:
    """A one-level (A2) rule from the strictest instantaneous limit of a channel."""
    upper = [a for a in applied if a.metric == "max" and a.upper]
    lower = [a for a in applied if a.metric == "min" and not a.upper]
    points: list[SetPoint] = []
    chosen: AppliedLimit | None = None
    if upper:
        chosen = min(upper, key=lambda a: a.limit)
        points.append(SetPoint(ALARM, "above", chosen.limit))
    if lower:
        strictest = max(lower, key=lambda a: a.limit)
        points.append(SetPoint(ALARM, "below", strictest.limit))
        chosen = chosen or strictest
    if chosen is None:
        return None
    return LimitRule(
        id=chosen.row.id,
        quantity=channel.quantity,
        unit=channel.unit,
        standard=chosen.row.standard,
        clause=chosen.row.clause,
        confirmed=chosen.row.confirmed,
        set_points=tuple(points),
        note=chosen.row.note,
    )


def _event_thresholds(
    table: LimitTable, level: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per channel, the threshold whose crossing starts an event, for each side."""
    with np.errstate(invalid="ignore"):
        upper = np.where((table.direction > 0) & (table.levels >= level), table.thresholds, np.inf)
        lower = np.where((table.direction < 0) & (table.levels >= level), table.thresholds, -np.inf)
    return upper.min(axis=1), lower.max(axis=1)


@dataclass(frozen=True, slots=True)
class Verdict:
    """One rule's judgement of one channel."""

    rule: str
    clause: str
    limit: float
    value: float
    passed: bool
    confirmed: str = ""
    #: What the limit is based on (OEL basis of a set point, shift, week ...).
    basis: str = ""
    #: Sampled fraction of the shift the figure covers (NaN: not a shift figure).
    coverage: float = math.nan
    #: False when the figure cannot decide (``passed`` is then False too): see note.
    judged: bool = True
    note: str = ""


@dataclass(frozen=True, slots=True)
class EventRecord:
    """An event with its rule and clause.

    ``dose`` is ∫(C − limit)dt over the event [unit · s] (for a lower limit,
    ∫(limit − C)dt).
    """

    event: Event
    rule: str
    clause: str
    limit: float
    #: The event reached the site's hazard level (A2 by default; A1 events are not).
    hazard: bool = True
    basis: str = ""


@dataclass(frozen=True, slots=True)
class ChannelResult:
    """Metrics, verdicts and events of one channel."""

    channel: Channel
    metrics: dict[str, float]
    verdicts: tuple[Verdict, ...]
    events: tuple[EventRecord, ...]
    #: Why (part of) the channel is not judged; empty when nothing is missing.
    not_judged: tuple[str, ...] = ()
    #: The shift the shift figures (TWA, L_EX,8h) come from: (start, end) [ns UTC].
    shift: tuple[int, int] | None = None


@dataclass(slots=True)
class _Accumulator:
    """Per-channel state; everything is an array indexed by channel."""

    plan: ChannelPlan
    readings: NDArray[np.int64] = field(init=False)
    maximum: NDArray[np.float64] = field(init=False)
    minimum: NDArray[np.float64] = field(init=False)
    integral: NDArray[np.float64] = field(init=False)
    covered: NDArray[np.float64] = field(init=False)
    gaps: NDArray[np.int64] = field(init=False)
    missing_s: NDArray[np.float64] = field(init=False)
    stel_max: NDArray[np.float64] = field(init=False)
    moving_max: NDArray[np.float64] = field(init=False)
    day: NDArray[np.int64] = field(init=False)
    day_integral: NDArray[np.float64] = field(init=False)
    day_count: NDArray[np.int64] = field(init=False)
    day_max: NDArray[np.float64] = field(init=False)
    max_day_integral: NDArray[np.float64] = field(init=False)
    days: NDArray[np.int64] = field(init=False)
    last_minute: NDArray[np.int64] = field(init=False)
    shift_first: NDArray[np.int64] = field(init=False)
    shift_last: NDArray[np.int64] = field(init=False)
    shift_covered: NDArray[np.float64] = field(init=False)
    worst_shift: NDArray[np.int64] = field(init=False)
    week: NDArray[np.int64] = field(init=False)
    week_integral: NDArray[np.float64] = field(init=False)
    week_shifts: NDArray[np.int64] = field(init=False)
    week_max_shift: NDArray[np.float64] = field(init=False)
    max_week_integral: NDArray[np.float64] = field(init=False)
    weeks: NDArray[np.int64] = field(init=False)
    judged_8h: NDArray[np.float64] = field(init=False)
    judged_40h: NDArray[np.float64] = field(init=False)
    impulse_above: NDArray[np.bool_] = field(init=False)
    impulse_margin: NDArray[np.float64] = field(init=False)
    impulse_peak: NDArray[np.float64] = field(init=False)
    impulse_limit: NDArray[np.float64] = field(init=False)
    impulse_day_max: NDArray[np.int64] = field(init=False)
    tail: MinuteBins = field(init=False)
    runs: dict[int, list[int | float]] = field(init=False)
    run_stats: NDArray[np.float64] = field(init=False)
    events: EventTracker = field(init=False)
    alarm_carry: AlarmCarry = field(init=False)
    #: Per channel: the operator acknowledged its alarms since its last reading.
    acknowledged: NDArray[np.bool_] = field(init=False)
    #: Per channel, the values at or above (below) which a set point is within reach.
    _near: tuple[NDArray[np.float64], NDArray[np.float64]] = field(init=False)
    closed_events: list[Event] = field(default_factory=list)

    def __post_init__(self) -> None:
        count = len(self.plan)
        self.readings = np.zeros(count, np.int64)
        self.maximum = np.full(count, np.nan)
        self.minimum = np.full(count, np.nan)
        self.integral = np.zeros(count)
        self.covered = np.zeros(count)
        self.gaps = np.zeros(count, np.int64)
        self.missing_s = np.zeros(count)
        self.stel_max = np.full(count, np.nan)
        self.moving_max = np.full(count, np.nan)
        self.day = np.full(count, np.iinfo(np.int64).min)
        self.day_integral = np.zeros(count)
        self.day_count = np.zeros(count, np.int64)
        self.day_max = np.full(count, np.nan)
        self.max_day_integral = np.full(count, np.nan)
        self.days = np.zeros(count, np.int64)
        self.last_minute = np.full(count, NO_MINUTE)
        self.shift_first = np.zeros(count, np.int64)
        self.shift_last = np.zeros(count, np.int64)
        self.shift_covered = np.zeros(count)
        # Worst shift: [first minute, last minute, covered seconds] per channel.
        self.worst_shift = np.zeros((count, 3), np.int64)
        self.week = np.full(count, np.iinfo(np.int64).min)
        self.week_integral = np.zeros(count)
        self.week_shifts = np.zeros(count, np.int64)
        self.week_max_shift = np.zeros(count)
        self.max_week_integral = np.full(count, np.nan)
        self.weeks = np.zeros(count, np.int64)
        self.judged_8h = np.full(count, np.nan)
        self.judged_40h = np.full(count, np.nan)
        self.impulse_above = np.zeros(count, bool)
        self.impulse_margin = np.full(count, -np.inf)
        self.impulse_peak = np.full(count, np.nan)
        self.impulse_limit = np.full(count, np.nan)
        self.impulse_day_max = np.zeros(count, np.int64)
        self.tail = MinuteBins.empty()
        # Excursions: open run [start, end, peak] per channel, and per-channel stats
        # [current day, count that day, most in a day, longest, min spacing, last end].
        self.runs = {}
        self.run_stats = np.tile(np.array([np.nan, 0, 0, 0, np.nan, np.nan]), (count, 1))
        self.events = EventTracker(min_level=self.plan.settings.event_level)
        policy = self.plan.policy
        width = 1 if policy is None else policy.thresholds.shape[1]
        self.alarm_carry = AlarmCarry.initial(count, width)
        self.acknowledged = np.zeros(count, bool)
        self._near = (
            _near_set_points(policy)
            if policy is not None
            else (
                np.full(count, np.inf),
                np.full(count, -np.inf),
            )
        )

    def copy(self) -> _Accumulator:
        """An independent copy of the state (the plan is shared: it never changes)."""
        twin = copy.copy(self)
        for name in self.__slots__:
            value = getattr(self, name)
            if isinstance(value, np.ndarray):
                setattr(twin, name, value.copy())
        twin.runs = {number: list(run) for number, run in self.runs.items()}
        twin.events = EventTracker(self.events.min_level, dict(self.events.open_events))
        twin.closed_events = list(self.closed_events)
        return twin

    def grown(self, plan: ChannelPlan) -> _Accumulator:
        """This state for ``plan``, which extends this one's with more channels."""
        grown = _Accumulator(plan)
        old = len(self.plan)
        carry_shape = grown.alarm_carry.on.shape
        for name in self.__slots__:
            value = getattr(self, name)
            if name in ("plan", "alarm_carry", "_near"):  # the new plan's own
                continue
            if isinstance(value, np.ndarray):
                getattr(grown, name)[:old] = value
            else:  # bins, runs and events name their channels: they carry over as they are
                setattr(grown, name, value)
        grown.alarm_carry = self.alarm_carry.padded(*carry_shape)
        return grown

    def _involved(
        self, rows: NDArray[np.intp], channel: NDArray[np.int32], value: NDArray[np.float64]
    ) -> NDArray[np.intp]:
        """The rows of ``rows`` whose channel's alarm state can change in this chunk.

        A channel with nothing on, raised or latched whose readings all stay clear of
        every set point by more than its band keeps that state and level 0: only the
        other channels (a few, on a working site) need the state machine.
        """
        carry = self.alarm_carry
        busy = np.asarray((carry.on | carry.active | carry.unacknowledged).any(axis=1), bool)
        near_above, near_below = self._near
        rows_channel = channel[rows]
        with np.errstate(invalid="ignore"):
            near = (value[rows] >= near_above.take(rows_channel)) | (
                value[rows] < near_below.take(rows_channel)
            )
        busy[rows_channel[near]] = True
        return np.asarray(rows[busy.take(rows_channel)], np.intp)

    def levels(
        self, ts: NDArray[np.int64], channel: NDArray[np.int32], value: NDArray[np.float64]
    ) -> AlarmLevels:
        """Alarm and condition levels of readings sorted by channel, then time.

        Advances the alarm state (hysteresis, minimum duration, latching); channels
        whose set points have none of these are judged reading by reading, which gives
        the same levels far cheaper. A reading without a value has level 0 (its flag
        says why) and leaves the state as it was.
        """
        plan = self.plan
        level, side = evaluate_levels(value, channel, plan.limits)
        condition = level.copy()
        if plan.policy is None or not plan.stateful.any():
            return AlarmLevels(level, condition, side, self.alarm_carry)
        rows = np.flatnonzero(plan.stateful.take(channel))
        if len(rows) == 0:
            return AlarmLevels(level, condition, side, self.alarm_carry)
        stateful_rows = rows
        rows = self._involved(rows, channel, value)
        sub_channel = channel[rows]
        first = np.ones(len(rows), bool)
        np.not_equal(sub_channel[1:], sub_channel[:-1], out=first[1:])
        # An acknowledgement counts at the channel's next reading (and is then spent).
        acknowledged = first & self.acknowledged.take(sub_channel)
        self.acknowledged[channel[stateful_rows]] = False
        if len(rows) == 0:
            return AlarmLevels(level, condition, side, self.alarm_carry)
        state = alarm_levels(
            ts[rows], sub_channel, value[rows], plan.policy, acknowledged, self.alarm_carry
        )
        self.alarm_carry = state.carry
        valid = ~np.isnan(value[rows])
        level[rows] = np.where(valid, state.level, 0)
        condition[rows] = np.where(valid, state.condition, 0)
        side[rows] = np.where(valid, state.side, 0)
        return AlarmLevels(level, condition, side, self.alarm_carry)

    # -- readings whose hold is known ------------------------------------------------
    def add_readings(
        self,
        ts: NDArray[np.int64],
        channel: NDArray[np.int32],
        value: NDArray[np.float64],
        hold: NDArray[np.int64],
        missing: NDArray[np.int64],
        levels: tuple[NDArray[np.uint8], NDArray[np.int8]] | None = None,
    ) -> MinuteBins:
        """Account readings (sorted, hold known); return their (unfinished) bins.

        ``levels`` are the readings' condition levels and sides when the caller has
        already judged them (:meth:`levels`); without them they are judged here.
        """
        plan = self.plan
        count = len(plan)
        # Portable-detector practice: negative concentrations count as 0 in exposure.
        # max(value, -inf) is the value itself (NaN stays NaN), so one pass clamps
        # exactly the CLAMPED channels.
        floor = np.where(plan.integrand == CLAMPED, 0.0, -np.inf)
        integrand = np.maximum(value, floor.take(channel))
        energy = np.flatnonzero((plan.integrand == ENERGY).take(channel))
        if len(energy):
            with np.errstate(over="ignore"):
                integrand[energy] = sound_energy(value[energy])
        hold_s = hold / NS_PER_S
        nan = np.isnan(value)
        # Lost time is zero on almost every row; summing only the others gives the
        # same per-channel sums (adding 0.0 changes no sum).
        lossy = np.flatnonzero(nan | (missing > 0))
        lost_missing = missing[lossy]
        lost = lost_missing / NS_PER_S + np.where(nan[lossy], hold_s[lossy], 0.0)
        self.missing_s += np.bincount(channel[lossy], lost, count)
        self.gaps += np.bincount(channel[lossy[lost_missing > 0]], minlength=count)
        if levels is None:
            judged = self.levels(ts, channel, value)
            level, side = judged.condition, judged.side
        else:
            level, side = levels
        # Only readings at the event level carry a dose weight.
        weight = np.zeros(len(ts))
        eventful = np.flatnonzero(level >= plan.settings.event_level)
        if len(eventful):
            where_side = side[eventful]
            where_value = value[eventful]
            where_channel = channel[eventful]
            with np.errstate(invalid="ignore"):
                excess = np.where(
                    where_side > 0,
                    where_value - plan.upper_event_threshold[where_channel],
                    np.where(
                        where_side < 0,
                        plan.lower_event_threshold[where_channel] - where_value,
                        0.0,
                    ),
                )
            # Inside a hysteresis band a reading below the limit adds no dose.
            weight[eventful] = np.maximum(excess, 0.0) * hold_s[eventful]
        readings = Readings(ts, channel, value, np.zeros(len(ts), np.uint16))
        closed, _opened = self.events.update(readings, level, side, weight, assume_sorted=True)
        self.closed_events.extend(closed)
        self.readings += np.bincount(channel[~nan], minlength=count)
        bins = minute_bins(ts, channel, value, hold, integrand)
        return self._count_impulses(ts, channel, value, bins)

    def _count_impulses(
        self,
        ts: NDArray[np.int64],
        channel: NDArray[np.int32],
        value: NDArray[np.float64],
        bins: MinuteBins,
    ) -> MinuteBins:
        """On noise_peak channels, make each bin's count its impulses, not its lines.

        An impulse is an event: a reading at or above the channel's impulse
        threshold whose previous reading was below it (a peak rising out of the
        background), so a meter logging LCpeak every second counts its peaks once.
        """
        thresholds = self.plan.impulse_threshold
        if len(thresholds) == 0 or np.isnan(thresholds).all() or len(ts) == 0:
            return bins
        limit = thresholds.take(channel)
        with np.errstate(invalid="ignore"):
            above = value >= limit
        first = np.r_[True, channel[1:] != channel[:-1]]
        before = np.r_[False, above[:-1]]
        before[first] = self.impulse_above[channel[first]]
        last = np.r_[first[1:], True]
        self.impulse_above[channel[last]] = above[last]
        peak_channel = ~np.isnan(thresholds)
        counted = np.flatnonzero(above & ~before)
        impulses = np.zeros(len(bins), np.int64)
        if len(counted):
            where = np.searchsorted(bins.key, bin_key(channel[counted], ts[counted] // MINUTE_NS))
            np.add.at(impulses, where, 1)
        count = np.where(peak_channel.take(bins.channel), impulses, bins.count)
        return MinuteBins(
            bins.channel,
            bins.minute,
            bins.integral,
            bins.covered,
            bins.minimum,
            bins.maximum,
            count,
        )

    # -- finished minute bins ----------------------------------------------------------
    def add_bins(self, bins: MinuteBins) -> None:
        """Fold finished bins (later than every bin folded before, per channel)."""
        if len(bins) == 0:
            return
        count = len(self.plan)
        channel = bins.channel
        self.integral += np.bincount(channel, bins.integral, count)
        self.covered += np.bincount(channel, bins.covered, count)
        starts = np.flatnonzero(np.r_[True, channel[1:] != channel[:-1]])
        present = channel[starts]
        self.maximum[present] = np.fmax(
            self.maximum[present], np.fmax.reduceat(bins.maximum, starts)
        )
        self.minimum[present] = np.fmin(
            self.minimum[present], np.fmin.reduceat(bins.minimum, starts)
        )
        self._windows(bins, present, starts)
        self._days(bins)
        self._excursions(bins)

    def _windows(
        self, bins: MinuteBins, present: NDArray[np.int32], starts: NDArray[np.intp]
    ) -> None:
        # Only the kept bins of channels in this batch take part; the others wait.
        involved = np.zeros(len(self.plan), bool)
        involved[present] = True
        takes_part = involved[self.tail.channel]
        if takes_part.all():
            # Every kept bin's channel is in the batch (a stream of all channels):
            # nothing waits, and two copies of the kept bins are saved.
            waiting, earlier = MinuteBins.empty(), self.tail
        else:
            waiting = self.tail.take(~takes_part)
            earlier = self.tail.take(takes_part)
        combined = MinuteBins.concat([earlier, bins])
        order = np.argsort(combined.key, kind="stable")
        combined = combined.take(order)
        # Positions of the new bins in key order: only their window sums are needed.
        is_new = np.flatnonzero(order >= len(earlier))
        key = combined.key
        stel = window_sums(key, combined.integral, STEL_MINUTES, is_new) / STEL_S
        moving = window_sums(key, combined.integral, SHIFT_MINUTES, is_new) / SHIFT_S
        self.stel_max[present] = np.fmax(self.stel_max[present], np.fmax.reduceat(stel, starts))
        self.moving_max[present] = np.fmax(
            self.moving_max[present], np.fmax.reduceat(moving, starts)
        )
        latest = np.full(len(self.plan), np.iinfo(np.int64).min)
        np.maximum.at(latest, combined.channel, combined.minute)
        keep = combined.minute > latest[combined.channel] - SHIFT_MINUTES
        self.tail = MinuteBins.concat([waiting, combined.take(keep)])

    def _shift_ids(self, bins: MinuteBins) -> NDArray[np.int64]:
        """The shift of every bin: its session's first minute, or a declared shift day.

        Sessions: a bin more than ``shift_break_s`` after the channel's previous bin
        starts a new shift, so a night shift crossing local midnight stays one shift.
        """
        settings = self.plan.settings
        minute, channel = bins.minute, bins.channel
        if settings.shift_start_s is not None:
            return day_number(minute, settings.day_offset_s - settings.shift_start_s)
        first = np.r_[True, channel[1:] != channel[:-1]]
        previous = np.r_[NO_MINUTE, minute[:-1]]
        previous[first] = self.last_minute[channel[first]]
        new = minute - previous > settings.shift_break_s / 60.0
        carried = first & ~new
        marked = new | carried
        source = np.where(new, minute, self.day.take(channel))
        position = np.maximum.accumulate(np.where(marked, np.arange(len(minute)), 0))
        last = np.r_[first[1:], True]
        self.last_minute[channel[last]] = minute[last]
        return np.asarray(source[position], np.int64)

    def _days(self, bins: MinuteBins) -> None:
        """Fold bins into shifts (the name stays: a shift was a calendar day once)."""
        shift = self._shift_ids(bins)
        channel = bins.channel
        new = np.r_[True, (channel[1:] != channel[:-1]) | (shift[1:] != shift[:-1])]
        starts = np.flatnonzero(new)
        channel = channel[starts]
        day = shift[starts]
        integral = np.add.reduceat(bins.integral, starts)
        count = np.add.reduceat(bins.count, starts)
        maximum = np.fmax.reduceat(bins.maximum, starts)
        covered = np.add.reduceat(bins.covered, starts)
        first_minute = bins.minute[starts]
        last_minute = bins.minute[np.r_[starts[1:] - 1, len(bins) - 1]]
        first = np.r_[True, channel[1:] != channel[:-1]]
        last = np.r_[first[1:], True]
        first_rows = np.flatnonzero(first)
        ch = channel[first_rows]
        continues = day[first_rows] == self.day[ch]
        rows = first_rows[continues]
        kept = ch[continues]
        integral[rows] += self.day_integral[kept]
        count[rows] += self.day_count[kept]
        maximum[rows] = np.fmax(maximum[rows], self.day_max[kept])
        covered[rows] += self.shift_covered[kept]
        first_minute[rows] = self.shift_first[kept]
        # An open shift followed by a later one is complete.
        ended = ch[~continues & (self.day[ch] != np.iinfo(np.int64).min)]
        self._complete_days(
            ended,
            self.day_integral[ended],
            self.day_count[ended],
            self.day_max[ended],
            self.shift_first[ended],
            self.shift_last[ended],
            self.shift_covered[ended],
        )
        done = ~last
        self._complete_days(
            channel[done],
            integral[done],
            count[done],
            maximum[done],
            first_minute[done],
            last_minute[done],
            covered[done],
        )
        tail_ch = channel[last]
        self.day[tail_ch] = day[last]
        self.day_integral[tail_ch] = integral[last]
        self.day_count[tail_ch] = count[last]
        self.day_max[tail_ch] = maximum[last]
        self.shift_first[tail_ch] = first_minute[last]
        self.shift_last[tail_ch] = last_minute[last]
        self.shift_covered[tail_ch] = covered[last]

    def _complete_days(
        self,
        channel: NDArray[np.int32],
        integral: NDArray[np.float64],
        count: NDArray[np.int64],
        maximum: NDArray[np.float64],
        first_minute: NDArray[np.int64] | None = None,
        last_minute: NDArray[np.int64] | None = None,
        covered: NDArray[np.float64] | None = None,
    ) -> None:
        """Account completed shifts (in time order per channel)."""
        if len(channel) == 0:
            return
        first_minute = np.zeros(len(channel), np.int64) if first_minute is None else first_minute
        last_minute = first_minute if last_minute is None else last_minute
        covered = np.zeros(len(channel)) if covered is None else covered
        np.add.at(self.days, channel, 1)
        np.maximum.at(self.impulse_day_max, channel, count)
        offset = self.plan.settings.day_offset_s
        week = (day_number(first_minute, offset) + 3) // 7  # 1970-01-01 was a Thursday
        # Loop over completed (channel, shift) pairs: shifts, not readings.
        for row in range(len(channel)):
            number = int(channel[row])
            value = float(integral[row])
            if not value <= self.max_day_integral[number]:  # NaN (none yet) or larger
                self.max_day_integral[number] = value
                self.worst_shift[number] = (
                    int(first_minute[row]),
                    int(last_minute[row]),
                    round(float(covered[row])),
                )
            if int(week[row]) != self.week[number]:
                self._close_week(number)
                self.week[number] = int(week[row])
            self.week_integral[number] += value
            self.week_shifts[number] += 1
            self.week_max_shift[number] = max(self.week_max_shift[number], value)
        if self.plan.impulse_counts:
            allowed = allowed_impulse_peak(count, self.plan.impulse_counts, self.plan.impulse_peaks)
            margin = np.where(np.isnan(allowed), np.inf, maximum - allowed)
            margin = np.where(np.isnan(maximum), -np.inf, margin)
            # Loop over completed (channel, shift) pairs: shifts, not readings.
            for row in np.flatnonzero(margin > self.impulse_margin[channel]).tolist():
                number = int(channel[row])
                if margin[row] > self.impulse_margin[number]:
                    self.impulse_margin[number] = margin[row]
                    self.impulse_peak[number] = maximum[row]
                    self.impulse_limit[number] = allowed[row]

    def _close_week(self, number: int) -> None:
        """Judge one channel's finished calendar week (L_EX,8h or L_EX,40h)."""
        shifts = int(self.week_shifts[number])
        if shifts == 0:
            return
        declared = self.plan.settings.work_days_per_week
        integral = float(self.week_integral[number])
        self.weeks[number] += 1
        self.max_week_integral[number] = np.fmax(self.max_week_integral[number], integral)
        by_8h, by_40h = week_judged_by_40h(shifts, declared)
        if by_8h:
            self.judged_8h[number] = np.fmax(
                self.judged_8h[number], float(self.week_max_shift[number])
            )
        if by_40h:
            # Declared days not all recorded: the recorded shifts' mean stands for
            # the others (never fewer days than were recorded).
            days = max(declared or shifts, shifts)
            self.judged_40h[number] = np.fmax(self.judged_40h[number], integral * days / shifts)
        self.week_integral[number] = 0.0
        self.week_shifts[number] = 0
        self.week_max_shift[number] = 0.0

    def _excursions(self, bins: MinuteBins) -> None:
        if np.isnan(self.plan.excursion_threshold).all():
            return
        runs = excursion_runs(bins, self.plan.excursion_threshold)
        # A loop over excursions (a few a day), not readings.
        for row in range(len(runs)):
            number = int(runs.channel[row])
            start, end = int(runs.start_minute[row]), int(runs.end_minute[row])
            peak = float(runs.peak[row])
            current = self.runs.get(number)
            if current is not None and start == int(current[1]) + 1:
                self.runs[number] = [current[0], end, max(float(current[2]), peak)]
                continue
            if current is not None:
                self._close_run(number, current)
            self.runs[number] = [start, end, peak]

    def _close_run(self, number: int, run: list[int | float]) -> None:
        start, end = int(run[0]), int(run[1])
        stats = self.run_stats[number]
        settings = self.plan.settings
        offset = settings.day_offset_s - (settings.shift_start_s or 0)
        day = float(day_number(np.array([start]), offset)[0])
        stats[1] = stats[1] + 1 if stats[0] == day else 1
        stats[0] = day
        stats[2] = max(stats[2], stats[1])
        stats[3] = max(stats[3], end - start + 1)
        if not math.isnan(stats[5]):
            spacing = start - stats[5] - 1
            stats[4] = spacing if math.isnan(stats[4]) else min(stats[4], spacing)
        stats[5] = end

    def finish(self) -> list[Event]:
        """Close open days, runs and events; return every closed event."""
        open_days = np.flatnonzero(self.day != np.iinfo(np.int64).min).astype(np.int32)
        self._complete_days(
            open_days,
            self.day_integral[open_days],
            self.day_count[open_days],
            self.day_max[open_days],
            self.shift_first[open_days],
            self.shift_last[open_days],
            self.shift_covered[open_days],
        )
        self.day[open_days] = np.iinfo(np.int64).min
        for number in range(len(self.plan)):
            self._close_week(number)
        for number, run in sorted(self.runs.items()):
            self._close_run(number, run)
        self.runs.clear()
        self.closed_events.extend(self.events.flush())
        return self.closed_events

    def state_bytes(self) -> int:
        """Memory of the per-channel state arrays and the bins kept [bytes]."""
        arrays = [
            value
            for value in (getattr(self, name) for name in self.__slots__)
            if isinstance(value, np.ndarray)
        ]
        tail = self.tail
        tail_bytes = sum(
            part.nbytes
            for part in (
                tail.channel,
                tail.minute,
                tail.integral,
                tail.covered,
                tail.minimum,
                tail.maximum,
                tail.count,
            )
        )
        return sum(array.nbytes for array in arrays) + tail_bytes


def _metrics(acc: _Accumulator, number: int) -> dict[str, float]:
    """The metrics that apply to one channel's family (absent where they do not)."""
    plan = acc.plan
    family = plan.family[number]
    metrics: dict[str, float] = {"readings": float(acc.readings[number])}
    for name, value in (("max", acc.maximum[number]), ("min", acc.minimum[number])):
        if not math.isnan(value):
            metrics[name] = float(value)
    covered = float(acc.covered[number])
    integral = float(acc.integral[number])
    day_integral = float(acc.max_day_integral[number])
    if family == "noise":
        if covered > 0:
            metrics["laeq"] = float(energy_level(integral / covered))
            metrics["lex_8h"] = float(energy_level(day_integral / SHIFT_S))
            # The worst calendar week's L_EX,40h = 10 lg(Σ shift energy / 40 h).
            week = float(acc.max_week_integral[number])
            metrics["lex_40h"] = float(energy_level(week / (5 * SHIFT_S)))
            metrics["weeks"] = float(acc.weeks[number])
    elif family == "noise_peak":
        metrics["impulses_day_max"] = float(acc.impulse_day_max[number])
    elif covered > 0:
        metrics["mean"] = integral / covered
    if family in ("gas", "dust") and covered > 0:
        metrics["twa_8h"] = day_integral / SHIFT_S
        metrics["twa_8h_moving_max"] = float(acc.moving_max[number])
        if family == "gas":
            metrics["stel_max"] = float(acc.stel_max[number])
    if not math.isnan(plan.excursion_threshold[number]):
        stats = acc.run_stats[number]
        metrics["excursions_day_max"] = float(stats[2])
        metrics["excursion_longest_min"] = float(stats[3])
        if not math.isnan(stats[4]):
            metrics["excursion_min_spacing_min"] = float(stats[4])
    metrics["days"] = float(acc.days[number])
    metrics["shifts"] = float(acc.days[number])
    if family in ("gas", "dust", "noise") and not math.isnan(day_integral):
        metrics["coverage"] = _coverage(acc, number)
    metrics["gaps"] = float(acc.gaps[number])
    metrics["missing_s"] = float(acc.missing_s[number])
    return metrics


def _coverage(acc: _Accumulator, number: int) -> float:
    """Sampled fraction of the worst shift: covered time / max(nominal shift, span)."""
    first, last, covered = (int(part) for part in acc.worst_shift[number])
    span_s = (last - first + 1) * 60.0
    return covered / max(acc.plan.settings.nominal_shift_s, span_s)


#: Metrics that are shift figures (their verdicts carry the shift's coverage).
SHIFT_METRICS = frozenset({"twa_8h", "lex_8h"})
#: Where no figure was named, the sampling rule coverage is checked against.
COVERAGE_CLAUSE = N_("GBZ 159-2004 (full-shift sampling for C_TWA; clause unconfirmed)")


def _verdicts(acc: _Accumulator, number: int, metrics: dict[str, float]) -> list[Verdict]:
    plan = acc.plan
    settings = plan.settings
    verdicts: list[Verdict] = []
    for applied in plan.applied[number]:
        value = metrics.get(applied.metric)
        basis = ""
        if applied.metric == "lex_8h":
            # Judged on the worst shift of the 5-day weeks (GBZ 2.2-2007).
            judged = float(acc.judged_8h[number])
            value = None if math.isnan(judged) else float(energy_level(judged / SHIFT_S))
            basis = "worst shift of the weeks judged by L_EX,8h"
        elif applied.metric == "lex_40h":
            judged = float(acc.judged_40h[number])
            value = None if math.isnan(judged) else float(energy_level(judged / (5 * SHIFT_S)))
            basis = "worst week of other than 5 working days"
        elif applied.metric == "twa_8h":
            basis = "worst shift, Σ C·T / 8 h"
        elif applied.metric == "stel_max":
            basis = "highest 15-minute TWA"
        elif applied.metric == "max":
            basis = "highest reading"
        if value is None:
            continue
        if applied.upper:
            passed = value < applied.limit if applied.strict else value <= applied.limit
        else:
            passed = value >= applied.limit
        coverage = math.nan
        judged_flag, note = True, ""
        if applied.metric in SHIFT_METRICS and "coverage" in metrics:
            coverage = metrics["coverage"]
            if passed and round(coverage, 2) < settings.min_coverage:
                # Unsampled time counts as zero: a low figure proves nothing.
                passed, judged_flag = False, False
                note = Reason(
                    N_("sampled {coverage} of the shift, below {minimum} ({clause}): not judged"),
                    coverage=f"{coverage:.0%}",
                    minimum=f"{settings.min_coverage:.0%}",
                    clause=COVERAGE_CLAUSE,
                )
        verdicts.append(
            Verdict(
                applied.row.id,
                applied.clause,
                applied.limit,
                value,
                passed,
                applied.row.confirmed,
                basis=basis,
                coverage=coverage,
                judged=judged_flag,
                note=note,
            )
        )
    rule = plan.limits.rules[number]
    row_ids = {applied.row.id for applied in plan.applied[number]}
    if rule is not None and rule.id not in row_ids:
        # The alarm set point a reading must stay below (GB/T 50493-2019 §5.5.2 ...).
        upper = float(plan.upper_event_threshold[number])
        lower = float(plan.lower_event_threshold[number])
        clause = citation(rule.standard, rule.clause)
        upper = float(plan.alarm_upper[number]) if len(plan.alarm_upper) else upper
        lower = float(plan.alarm_lower[number]) if len(plan.alarm_lower) else lower
        basis = rule.basis or "highest reading against the A2 set point"
        if math.isfinite(upper) and "max" in metrics:
            verdicts.append(
                Verdict(
                    rule.id,
                    clause,
                    upper,
                    metrics["max"],
                    metrics["max"] < upper,
                    rule.confirmed,
                    basis=basis,
                )
            )
        if math.isfinite(lower) and "min" in metrics:
            verdicts.append(
                Verdict(
                    rule.id,
                    clause,
                    lower,
                    metrics["min"],
                    metrics["min"] >= lower,
                    rule.confirmed,
                    basis=basis,
                )
            )
    peak = float(acc.impulse_peak[number])
    if plan.family[number] == "noise_peak" and plan.impulse_rows and not math.isnan(peak):
        limit = float(acc.impulse_limit[number])
        row = plan.impulse_rows[-1]
        if not math.isnan(limit):
            row = next(r for r in plan.impulse_rows if r.value == limit)
        verdicts.append(
            Verdict(
                row.id,
                citation(row.standard, row.clause),
                limit if not math.isnan(limit) else float(row.value or 0.0),
                peak,
                bool(acc.impulse_margin[number] <= 0),
                row.confirmed,
            )
        )
    return verdicts


def _level_clause(rule: LimitRule, level: int) -> str:
    """The clause of the set point an event reached (GB/T 50493 items 1 and 2)."""
    own = [point.clause for point in rule.set_points if point.level == level and point.clause]
    return own[0] if own else rule.clause


def _results(acc: _Accumulator, events: Sequence[Event]) -> list[ChannelResult]:
    return [result for _number, result in _numbered_results(acc, events)]


def _near_set_points(
    policy: AlarmPolicy,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per channel: the lowest ``threshold − band`` of its upper set points and the
    highest ``threshold + band`` of its lower ones (±inf where it has none)."""
    with np.errstate(invalid="ignore"):
        above = np.where(policy.direction > 0, policy.thresholds - policy.hysteresis, np.inf)
        below = np.where(policy.direction < 0, policy.thresholds + policy.hysteresis, -np.inf)
    return above.min(axis=1, initial=np.inf), below.max(axis=1, initial=-np.inf)


def _numbered_results(
    acc: _Accumulator, events: Sequence[Event]
) -> list[tuple[int, ChannelResult]]:
    """The result of every channel with readings or events, with its channel number."""
    plan = acc.plan
    by_channel: dict[int, list[EventRecord]] = {}
    for event in sorted(events, key=lambda event: (event.channel, event.start_ts)):
        rule = plan.limits.rules[event.channel]
        if rule is None:  # pragma: no cover - events only arise from rules
            continue
        limit = (
            plan.upper_event_threshold[event.channel]
            if event.side > 0
            else plan.lower_event_threshold[event.channel]
        )
        by_channel.setdefault(event.channel, []).append(
            EventRecord(
                event,
                rule.id,
                citation(rule.standard, _level_clause(rule, event.max_level)),
                float(limit),
                hazard=event.max_level >= plan.settings.hazard_level,
                basis=rule.basis,
            )
        )
    results = []
    for number, channel in enumerate(plan.channels):
        if acc.readings[number] == 0 and acc.missing_s[number] == 0 and number not in by_channel:
            continue
        metrics = _metrics(acc, number)
        verdicts = tuple(_verdicts(acc, number, metrics))
        not_judged = plan.not_judged[number] if plan.not_judged else ()
        if not verdicts and not not_judged:
            not_judged = (Reason(N_("no rule gives a verdict on this channel's figures")),)
        shift = None
        if not math.isnan(float(acc.max_day_integral[number])):
            first, last, _covered = (int(part) for part in acc.worst_shift[number])
            shift = (first * MINUTE_NS, (last + 1) * MINUTE_NS)
        results.append(
            (
                number,
                ChannelResult(
                    channel,
                    metrics,
                    verdicts,
                    tuple(by_channel.get(number, ())),
                    not_judged=not_judged,
                    shift=shift,
                ),
            )
        )
    return results


def _last_of_runs(channel: NDArray[np.int32]) -> NDArray[np.bool_]:
    """True at the last row of each channel's run (rows sorted by channel)."""
    last = np.empty(len(channel), bool)
    np.not_equal(channel[1:], channel[:-1], out=last[:-1])
    if len(last):
        last[-1] = True
    return last


def _sorted_columns(
    readings: Readings,
) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.float64]]:
    order = channel_time_order(readings.ts, readings.channel)
    return readings.ts[order], readings.channel[order], readings.value[order]


#: Rows per slice when :func:`evaluate` walks a large record (fits the CPU caches better
#: than one pass of 10-million-row temporaries, and the result is the same).
EVALUATE_SLICE = 262_144


def evaluate(
    readings: Readings, plan: ChannelPlan, slice_rows: int | None = EVALUATE_SLICE
) -> list[ChannelResult]:
    """Evaluate a whole record: metrics, verdicts and events of every channel.

    Parameters
    ----------
    readings
        Any order; values in each channel's canonical unit.
    plan
        What applies to each channel (:meth:`ChannelPlan.build`).
    slice_rows
        Sorted by channel and time, the record's readings are evaluated in slices of
        this many rows and their minute bins folded in one pass at the end (equal
        results: a reading's hold looks only at its neighbours, and bins cut by a
        slice boundary are merged). ``None``: everything in one pass.

    Returns
    -------
    list[ChannelResult]
        One per channel with readings, in channel order.
    """
    if slice_rows is not None and len(readings) > slice_rows:
        return _evaluate_in_slices(readings, plan, slice_rows)
    accumulator = _Accumulator(plan)
    ts, channel, value = _sorted_columns(readings)
    previous, following = neighbour_times(ts, channel)
    max_gap_ns = int(plan.settings.max_gap_s * NS_PER_S)
    hold, missing = hold_durations(ts, previous, following, max_gap_ns)
    accumulator.add_bins(accumulator.add_readings(ts, channel, value, hold, missing))
    return _results(accumulator, accumulator.finish())


def _slice_holds(
    ts: NDArray[np.int64], channel: NDArray[np.int32], offset: int, rows: int, max_gap_ns: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """:func:`hold_durations` of ``rows`` rows of a record sorted by channel, then time.

    Parameters
    ----------
    ts : [ns]
        The rows from ``offset`` on, with the row before them (when there is one,
        ``offset`` 1) and the row after them (when there is one) of the record.
    channel
        Channel of each of those rows.
    offset
        Where the slice's rows begin (0 or 1).
    rows
        Number of rows of the slice.
    max_gap_ns : [ns]
        Longest time a value is held.

    Notes
    -----
    Each row's neighbours are the rows beside it; only the few rows without a next
    reading of their channel (at most one per channel) need the fallback to the
    previous reading, so a handful of passes replace the general ``np.where`` chain.
    """
    step = np.diff(ts)
    same = channel[1:] == channel[:-1]
    # Row k of the slice: its step to the next row is step[k + offset], to the
    # previous one step[k + offset - 1].
    interval = np.zeros(rows, np.int64)
    has_next = np.zeros(rows, bool)
    available = min(rows, len(step) - offset)
    interval[:available] = step[offset : offset + available]
    has_next[:available] = same[offset : offset + available]
    lone = np.flatnonzero(~has_next)
    interval[lone] = 0
    with_previous = lone[lone + offset >= 1]
    with_previous = with_previous[same[with_previous + offset - 1]]
    interval[with_previous] = step[with_previous + offset - 1]
    hold = np.minimum(interval, max_gap_ns)
    missing = interval - hold
    missing[lone] = 0
    return hold, missing


def _evaluate_in_slices(
    readings: Readings, plan: ChannelPlan, slice_rows: int
) -> list[ChannelResult]:
    """:func:`evaluate` walking the record, sorted by channel and time, in slices.

    Per-reading work (holds, levels, events, minute bins) runs slice by slice, where
    its temporaries stay in the CPU caches; each slice's rows are gathered through
    the sort order only then (gathering the whole record at once into three new
    full-size columns measured 3-4 times slower, mostly page faults). The minute bins
    (about 60 times fewer than readings) are folded in one pass at the end, as the
    one-pass path does; a bin cut by a slice boundary appears in both slices,
    adjacent after concatenation, and is merged before folding.
    """
    accumulator = _Accumulator(plan)
    order = channel_time_order(readings.ts, readings.channel)
    channel_column = readings.channel
    if int(channel_column.min()) >= 0 and int(channel_column.max()) < len(plan):
        # Sorted by channel, the channel column is each channel number repeated as
        # often as it occurs: cheaper than gathering it through ``order``.
        sorted_channel = np.repeat(
            np.arange(len(plan), dtype=np.int32),
            np.bincount(channel_column, minlength=len(plan)),
        )
    else:  # pragma: no cover - channel numbers outside the plan: gather them as given
        sorted_channel = channel_column.take(order)
    max_gap_ns = int(plan.settings.max_gap_s * NS_PER_S)
    parts: list[MinuteBins] = []
    total = len(order)
    for begin in range(0, total, slice_rows):
        end = min(begin + slice_rows, total)
        # One row either side: the neighbours that decide the slice's holds.
        low, high = max(begin - 1, 0), min(end + 1, total)
        rows = order[low:high]
        ts = readings.ts.take(rows)
        channel = sorted_channel[low:high]
        offset = begin - low
        hold, missing = _slice_holds(ts, channel, offset, end - begin, max_gap_ns)
        inner = slice(offset, offset + end - begin)
        parts.append(
            accumulator.add_readings(
                ts[inner], channel[inner], readings.value.take(order[begin:end]), hold, missing
            )
        )
    accumulator.add_bins(merge_bins(MinuteBins.concat(parts)))
    return _results(accumulator, accumulator.finish())


@dataclass(frozen=True, slots=True)
class BatchLevels:
    """The levels :meth:`StreamingEvaluator.update` gave one chunk (rows as given).

    Attributes
    ----------
    level : NDArray[np.uint8]
        The alarm at each reading (hysteresis, minimum duration and latching applied):
        what the live view shows, the store keeps and alerts follow.
    accepted : NDArray[np.bool_]
        False for a reading older than one of its channel fed before: it is not
        evaluated (a stream runs forward); its level is its own set points' verdict.
    """

    level: NDArray[np.uint8]
    accepted: NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What :meth:`StreamingEvaluator.finish` would return now, without finishing.

    Attributes
    ----------
    results : dict[int, ChannelResult]
        By channel number: exactly what ``hazmon analyze`` reports for the readings
        fed so far (events already taken with :meth:`StreamingEvaluator.take_events`
        are not repeated).
    level : NDArray[np.uint8]
        The current alarm level of every channel.
    """

    results: dict[int, ChannelResult]
    level: NDArray[np.uint8]


class StreamingEvaluator:
    """Evaluates readings chunk by chunk with bounded state per channel.

    Feed chunks in time order per channel with :meth:`update`; :meth:`finish` then
    returns what :func:`evaluate` returns for the concatenated chunks. The live
    pipeline owns one: :meth:`update` gives each reading's alarm level,
    :meth:`take_events` the events that closed, :meth:`snapshot` the figures so far.

    Levels are judged at once, chunk by chunk. The rest (holds, minute bins, windows,
    shifts, events) costs about the same for one reading as for thousands, so a live
    feed of small chunks is accounted in larger ones: chunks wait until ``flush_rows``
    readings or ``flush_s`` of reading time have gathered, or until :meth:`snapshot`
    or :meth:`finish` (the results do not depend on it). A reading is accounted when
    the next reading of its channel is (only then is its hold known), so an event
    closes one reading after the one that ended it, once that reading is accounted.

    Parameters
    ----------
    plan
        What applies to each channel.
    flush_rows
        Readings gathered before they are accounted (1: every chunk at once).
    flush_s : [s]
        Reading time gathered before it is accounted.
    """

    def __init__(self, plan: ChannelPlan, *, flush_rows: int = 1, flush_s: float = 0.0) -> None:
        self.plan = plan
        self.flush_rows = flush_rows
        self.flush_ns = round(flush_s * NS_PER_S)
        self._accumulator = _Accumulator(plan)
        count = len(plan)
        #: Newest reading time judged per channel (accounted or waiting) [ns]; −1: none.
        self._newest_ts = np.full(count, -1, np.int64)
        self._waiting: list[tuple[NDArray[Any], ...]] = []
        self._waiting_rows = 0
        self._has_pending = np.zeros(count, bool)
        self._pending_ts = np.zeros(count, np.int64)
        self._pending_value = np.zeros(count)
        self._pending_condition = np.zeros(count, np.uint8)
        self._pending_side = np.zeros(count, np.int8)
        self._previous_ts = np.full(count, -1, np.int64)
        self._level = np.zeros(count, np.uint8)
        self._open_bins = MinuteBins.empty()
        self._max_gap_ns = int(plan.settings.max_gap_s * NS_PER_S)
        self._snapshot: Snapshot | None = None

    def grow(self, plan: ChannelPlan) -> None:
        """Carry on with ``plan``: the same channels first, then new ones (a device
        came online); the new channels start with nothing fed."""
        self._flush()
        old = len(self.plan)
        fresh = StreamingEvaluator(
            plan, flush_rows=self.flush_rows, flush_s=self.flush_ns / NS_PER_S
        )
        fresh._accumulator = self._accumulator.grown(plan)
        for name, value in vars(self).items():
            if isinstance(value, np.ndarray):
                getattr(fresh, name)[:old] = value
        fresh._open_bins = self._open_bins
        self.__dict__.update(vars(fresh))

    def acknowledge(self, channel: int) -> None:
        """The operator acknowledged the channel's alarms: a latched alarm whose
        condition has cleared clears at the channel's next reading."""
        self._accumulator.acknowledged[channel] = True

    def update(self, readings: Readings) -> BatchLevels:
        """Take one chunk; return the alarm level of each of its readings.

        Readings older than one of the same channel fed before are not evaluated
        (``accepted`` is False for them); readings of equal time are.
        """
        count = len(readings)
        if count == 0:
            return BatchLevels(np.zeros(0, np.uint8), np.ones(0, bool))
        channel = readings.channel
        late = readings.ts < self._newest_ts.take(channel)
        level = np.zeros(count, np.uint8)
        if late.any():
            level[late] = evaluate_levels(readings.value[late], channel[late], self.plan.limits)[0]
            rows = np.flatnonzero(~late)
            order = rows[channel_time_order(readings.ts[rows], channel[rows])]
        else:
            order = channel_time_order(readings.ts, channel)
        if len(order):
            level[order] = self.update_sorted(
                readings.ts[order], channel[order], readings.value[order]
            )
        return BatchLevels(level, ~late)

    def update_sorted(
        self, ts: NDArray[np.int64], channel: NDArray[np.int32], value: NDArray[np.float64]
    ) -> NDArray[np.uint8]:
        """Take one chunk already sorted by channel, then time (see :meth:`update`).

        Parameters
        ----------
        ts : [ns]
        channel
        value : [canonical unit]

        Returns
        -------
        NDArray[np.uint8]
            The alarm level of each reading, in the order given.
        """
        if len(ts) == 0:
            return np.zeros(0, np.uint8)
        self._snapshot = None
        judged = self._accumulator.levels(ts, channel, value)
        last = _last_of_runs(channel)
        self._newest_ts[channel[last]] = ts[last]
        # The shown level of a channel is that of its newest reading with a value.
        shown = np.flatnonzero(~np.isnan(value))
        if len(shown):
            shown = shown[_last_of_runs(channel[shown])]
            self._level[channel[shown]] = judged.level[shown]
        self._waiting.append((ts, channel, value, judged.condition, judged.side))
        self._waiting_rows += len(ts)
        span = int(ts.max()) - int(self._waiting[0][0].min())
        if self._waiting_rows >= self.flush_rows or span >= self.flush_ns:
            self._flush()
        return judged.level

    def _flush(self) -> None:
        """Account the waiting chunks (judged, in time order per channel) as one."""
        if not self._waiting:
            return
        if len(self._waiting) == 1:
            ts, channel, value, condition, side = self._waiting[0]
        else:
            columns = [np.concatenate(parts) for parts in zip(*self._waiting, strict=True)]
            # Each chunk is sorted by channel, then time, and the chunks are in time
            # order per channel: a stable sort by channel alone orders them all.
            order = np.argsort(columns[1], kind="stable")
            ts, channel, value, condition, side = (column[order] for column in columns)
        self._waiting, self._waiting_rows = [], 0
        self._account(ts, channel, value, condition, side)

    def _account(
        self,
        ts: NDArray[np.int64],
        channel: NDArray[np.int32],
        value: NDArray[np.float64],
        condition: NDArray[np.uint8],
        side: NDArray[np.int8],
    ) -> None:
        """Hold, bin and fold judged readings sorted by channel, then time."""
        pending = np.flatnonzero(self._has_pending).astype(np.int32)
        # The carried readings go before the chunk's rows of their channel (they are
        # earlier): a merge by position, not a sort.
        at = np.searchsorted(channel, pending, side="left")
        all_ts = np.insert(ts, at, self._pending_ts[pending])
        all_channel = np.insert(channel, at, pending)
        all_value = np.insert(value, at, self._pending_value[pending])
        condition = np.insert(condition, at, self._pending_condition[pending])
        side = np.insert(side, at, self._pending_side[pending])
        carried = np.insert(np.zeros(len(ts), bool), at, True)
        previous, following = neighbour_times(all_ts, all_channel)
        first = np.r_[True, all_channel[1:] != all_channel[:-1]]
        previous[first & carried] = self._previous_ts[all_channel[first & carried]]
        last = np.r_[first[1:], True]
        done = ~last
        hold, missing = hold_durations(
            all_ts[done], previous[done], following[done], self._max_gap_ns
        )
        new_bins = self._accumulator.add_readings(
            all_ts[done],
            all_channel[done],
            all_value[done],
            hold,
            missing,
            (condition[done], side[done]),
        )
        merged = merge_bins(MinuteBins.concat([self._open_bins, new_bins]))
        ends = all_channel[last]
        self._has_pending[ends] = True
        self._pending_ts[ends] = all_ts[last]
        self._pending_value[ends] = all_value[last]
        self._pending_condition[ends] = condition[last]
        self._pending_side[ends] = side[last]
        self._previous_ts[ends] = previous[last]
        boundary = self._pending_ts // MINUTE_NS
        final = merged.minute < boundary[merged.channel]
        self._accumulator.add_bins(merged.take(final))
        self._open_bins = merged.take(~final)

    def take_events(self) -> list[Event]:
        """The events that closed since the last call (by start time, then channel),
        as far as readings are accounted; they are not repeated in :meth:`finish`'s
        results."""
        closed = sorted(
            self._accumulator.closed_events, key=lambda event: (event.start_ts, event.channel)
        )
        self._accumulator.closed_events = []
        return closed

    def snapshot(self) -> Snapshot:
        """The figures so far: :meth:`finish` run on a copy of the state.

        The copy is of the bounded state (no readings are kept), and the result is
        kept until the next chunk, so a screen refreshing several times a second
        between polls costs one evaluation a poll.
        """
        if self._snapshot is None:
            self._flush()
            twin = copy.copy(self)
            twin._accumulator = self._accumulator.copy()
            for name, value in vars(self).items():
                if isinstance(value, np.ndarray):
                    setattr(twin, name, value.copy())
            events = twin._close()
            results = dict(_numbered_results(twin._accumulator, events))
            self._snapshot = Snapshot(results, self._level.copy())
        return self._snapshot

    def finish(self) -> list[ChannelResult]:
        """End of the stream: hold the last readings, close everything, return results."""
        self._snapshot = None
        return _results(self._accumulator, self._close())

    def _close(self) -> list[Event]:
        """Hold the last readings, close days, runs and events; return the events."""
        self._flush()
        pending = np.flatnonzero(self._has_pending).astype(np.int32)
        ts = self._pending_ts[pending]
        previous = self._previous_ts[pending]
        hold, missing = hold_durations(
            ts, previous, np.full(len(ts), -1, np.int64), self._max_gap_ns
        )
        bins = self._accumulator.add_readings(
            ts,
            pending,
            self._pending_value[pending],
            hold,
            missing,
            (self._pending_condition[pending], self._pending_side[pending]),
        )
        self._accumulator.add_bins(merge_bins(MinuteBins.concat([self._open_bins, bins])))
        self._has_pending[:] = False
        self._open_bins = MinuteBins.empty()
        return self._accumulator.finish()

    def state_bytes_per_channel(self) -> float:
        """Memory of the streaming state divided by the number of channels [bytes]."""
        self._flush()
        own = sum(
            array.nbytes
            for array in (
                self._has_pending,
                self._pending_ts,
                self._pending_value,
                self._previous_ts,
            )
        )
        open_bins = self._open_bins
        own += sum(
            part.nbytes
            for part in (
                open_bins.channel,
                open_bins.minute,
                open_bins.integral,
                open_bins.covered,
                open_bins.minimum,
                open_bins.maximum,
                open_bins.count,
            )
        )
        return (own + self._accumulator.state_bytes()) / max(len(self.plan), 1)
