"""The kits' numbering as a central partition sees it (:mod:`hazmon.acquisition.central.sequences`):
what is confirmed, what is a repeat, and that messages are judged in ``seq`` order
whatever order the broker hands them over in, waiting at most ``wait`` for a gap."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hazmon.acquisition.central.sequences import Confirmation, SequenceTracker, Topic
from hazmon.acquisition.publish import DecodedReadings
from hazmon.analysis.readings import Channel

CHANNEL = Channel("plant-a", "gd-1", "lel", "%LEL", "CH4")
TOPIC = Topic("plant-a", "gd-1", "lel")
WAIT = 10.0


def _message(boot: int, seq: int, held: int | None = None) -> DecodedReadings:
    empty = np.zeros(0)
    return DecodedReadings(
        CHANNEL,
        empty.astype(np.int64),
        empty,
        empty.astype(np.uint16),
        boot=boot,
        seq=seq,
        held=held,
    )


def _see(tracker: SequenceTracker[int], seq: int, now: float = 0.0, **kw: int) -> list[int]:
    """What arriving ``seq`` (boot 10 unless given) lets be judged."""
    boot = kw.pop("boot", 10)
    return tracker.see(_message(boot, seq, **kw), seq, now).ready


def test_the_centre_confirms_the_highest_seq_below_which_it_has_every_message() -> None:
    tracker: SequenceTracker[int] = SequenceTracker(WAIT)
    # 1, 2, then 4 and 5 (3 lost by the broker): confirmed up to 2, 3 named missing.
    assert _see(tracker, 1) == [1]
    assert _see(tracker, 2) == [2]
    assert _see(tracker, 4) == []  # waits for 3
    assert _see(tracker, 5) == []
    assert tracker.take_changed() == [Confirmation(TOPIC, 10, 2, [3])]
    assert tracker.take_changed() == []  # nothing new: nothing to publish
    # 3 sent again by the kit: new, and it brings 4 and 5 with it, in order.
    assert _see(tracker, 3) == [3, 4, 5]
    assert tracker.take_changed() == [Confirmation(TOPIC, 10, 5, [])]
    # 4 again (its confirmation lost): a repeat, not judged again, confirmed again.
    arrival = tracker.see(_message(10, 4), 4, 0.0)
    assert (arrival.ready, arrival.repeated) == ([], True)
    assert tracker.take_changed() == [Confirmation(TOPIC, 10, 5, [])]
    # A takeover that never saw 1..99 of a long run: the kit's ``held`` = 100 says
    # all below was confirmed, so 100 and 101 are judged at once and confirm 101.
    fresh: SequenceTracker[int] = SequenceTracker(WAIT)
    assert _see(fresh, 100, boot=20, held=100) == [100]
    assert _see(fresh, 101, boot=20, held=100) == [101]
    assert fresh.take_changed() == [Confirmation(TOPIC, 20, 101, [])]
    # A newer run (the kit restarted) whose first message here is 3, held 2: 2 may
    # still come (the kit holds it), so 3 waits; 1 was confirmed before.
    assert _see(fresh, 3, boot=30, held=2) == []
    assert fresh.take_changed() == [Confirmation(TOPIC, 30, 1, [2])]
    assert _see(fresh, 2, boot=30, held=2) == [2, 3]


def test_a_gap_waits_at_most_wait_then_the_ones_after_it_are_judged_without_it() -> None:
    tracker: SequenceTracker[int] = SequenceTracker(WAIT)
    assert _see(tracker, 1, now=100.0) == [1]
    assert _see(tracker, 3, now=101.0) == []
    assert _see(tracker, 5, now=102.0) == []  # 2 and 4 missing
    assert list(tracker.waiting_items()) in ([3, 5], [5, 3])
    assert tracker.release_due(110.9) == []  # 3 has waited 9.9 s
    (released,) = tracker.release_due(111.0)
    assert (released.topic, released.items, released.missing) == (TOPIC, [3, 5], 2)
    assert list(tracker.waiting_items()) == []
    # 2 after all: its place was passed (stored, counted late); 6 follows 5 at once.
    arrival = tracker.see(_message(10, 2), 2, 112.0)
    assert (arrival.ready, arrival.late) == ([2], True)
    assert _see(tracker, 6, now=113.0) == [6]
    # The confirmation still names 4 (the kit may have it): 2 came, so up to 3.
    assert tracker.take_changed() == [Confirmation(TOPIC, 10, 3, [4])]


def test_a_replay_ends_by_judging_what_still_waits() -> None:
    tracker: SequenceTracker[int] = SequenceTracker(WAIT)
    assert _see(tracker, 1) == [1]
    assert _see(tracker, 4) == []
    (released,) = tracker.release_all()
    assert (released.items, released.missing) == ([4], 2)


def test_a_message_set_aside_takes_its_place_and_is_confirmed() -> None:
    """A message that cannot be decoded but whose number can be read (a dead letter):
    the ones after it do not wait for it, and it is confirmed (sending it again cannot
    mend it); sent again, it is a repeat (not set aside twice)."""
    tracker: SequenceTracker[int] = SequenceTracker(WAIT)
    assert _see(tracker, 1) == [1]
    assert _see(tracker, 3) == []  # waits for 2
    assert tracker.arrive(TOPIC, 10, 2, None, 2, 0.5).ready == [2, 3]
    assert tracker.take_changed() == [Confirmation(TOPIC, 10, 3, [])]
    assert tracker.arrive(TOPIC, 10, 2, None, 2, 0.6).repeated
    # A named channel's topic is its name, not its quantity.
    named = Channel("plant-a", "gd-1", "lel", "%LEL", "CH4", name="cell-2")
    assert Topic.of(named) == Topic("plant-a", "gd-1", "cell-2")


def test_unnumbered_messages_are_judged_as_they_come() -> None:
    tracker: SequenceTracker[int] = SequenceTracker(WAIT)
    plain = _message(10, 1)
    plain = DecodedReadings(plain.channel, plain.ts, plain.value, plain.quality)
    assert tracker.see(plain, 7, 0.0).ready == [7]
    assert tracker.take_changed() == []


@settings(max_examples=200, deadline=None)
@given(
    order=st.permutations(list(range(1, 13))),
    repeats=st.lists(st.integers(1, 12), max_size=6),
    where=st.lists(st.integers(0, 17), min_size=6, max_size=6),
)
def test_any_arrival_order_is_judged_in_seq_order_once_each(
    order: list[int], repeats: list[int], where: list[int]
) -> None:
    """Messages 2..12 of a run in any order, some twice (resends, redeliveries), all
    within the wait: each is judged once and the judged order is 1, 2, …, 12. (1 comes
    first: of a channel's first run nothing is known before its first message.)"""
    arrivals = [1, *(seq for seq in order if seq != 1)]
    for seq, at in zip(repeats, where, strict=False):
        arrivals.insert(min(len(arrivals), 1 + at), seq)
    tracker: SequenceTracker[int] = SequenceTracker(WAIT)
    judged: list[int] = []
    for now, seq in enumerate(arrivals):
        judged.extend(_see(tracker, seq, now=now * 0.1))
        assert tracker.release_due(now * 0.1) == []
    assert judged == list(range(1, 13))
    assert list(tracker.waiting_items()) == []
    assert tracker.take_changed() == [Confirmation(TOPIC, 10, 12, [])]
