"""The sandbox parcel store: parcels move through realistic statuses as (accelerated) time passes."""

from carriers.sandbox import SandboxStore

MINUTE = 60


def _parcel(store, note=""):
    return store.create("ghn", "G000000001", "HCC1", {}, note=note, cod_amount=100_000, fee=25_000)


def test_at_a_high_speed_a_parcel_is_delivered_within_a_minute(tmp_path):
    store = SandboxStore(tmp_path / "s.sqlite3", speed=3000)
    _parcel(store)
    store.advance(MINUTE * store.speed)  # one real minute at this speed
    statuses = [e.status for e in store.events_of("ghn", "G000000001")]
    assert statuses == ["pending", "picked_up", "in_transit", "out_for_delivery", "delivered"]


def test_at_real_speed_a_minute_changes_nothing(tmp_path):
    store = SandboxStore(tmp_path / "s.sqlite3", speed=1)
    _parcel(store)
    store.advance(MINUTE)
    assert [e.status for e in store.events_of("ghn", "G000000001")] == ["pending"]


def test_a_failed_delivery_scenario_ends_returned_with_nothing_collected(tmp_path):
    store = SandboxStore(tmp_path / "s.sqlite3", speed=60)
    _parcel(store, note="[sandbox:return]")
    store.advance(60 * 3600)
    events = store.events_of("ghn", "G000000001")
    assert [e.status for e in events][-3:] == ["delivery_failed", "return_to_sender", "returned"]
    assert all(e.cod_collected is None for e in events)


def test_a_short_collection_scenario_reports_less_cod(tmp_path):
    store = SandboxStore(tmp_path / "s.sqlite3", speed=60)
    _parcel(store, note="[sandbox:short-cod]")
    store.advance(30 * 3600)
    assert store.events_of("ghn", "G000000001")[-1].cod_collected == 90_000


def test_the_feed_pages_by_last_id_and_events_are_written_once(tmp_path):
    store = SandboxStore(tmp_path / "s.sqlite3", speed=60)
    _parcel(store)
    store.advance(30 * 3600)
    first = store.feed("ghn", 0, limit=2)
    rest = store.feed("ghn", first[-1].id)
    assert len(first) == 2 and len(rest) == 3 and store.tick("ghn") == 0
