"""Two-level administrative units: search without diacritics, resolution of names to codes."""

import pytest

from core.addresses import AddressError, bare, fold, resolve_address, search_provinces, search_wards


def test_fold_strips_diacritics_and_d_bar():
    assert fold("Phường Đống Đa") == "phuong dong da"


def test_thirty_four_provinces_since_july_2025(session):
    assert len(search_provinces(session, "")) == 34


def test_search_without_diacritics_finds_the_ward(session):
    names = [w.name for w in search_wards(session, "thanh xuan")]
    assert "Phường Thanh Xuân" in names
    # Exact names (diacritics aside: Thanh Xuân, Thạnh Xuân) come before longer ones (Thanh Xuân Bắc...).
    exact = [n for n in names if bare(n) == "thanh xuan"]
    assert names[: len(exact)] == exact and len(names) > len(exact)


def test_search_can_be_limited_to_a_province(session):
    hanoi = search_provinces(session, "ha noi")[0]
    wards = search_wards(session, "ba dinh", hanoi.code)
    assert wards and all(w.province_code == hanoi.code for w in wards)


def test_resolve_by_names_without_diacritics(session):
    a = resolve_address(session, "12 Nguyễn Trãi", "thanh xuan", "ha noi")
    assert (a.ward_name, a.province_name) == ("Phường Thanh Xuân", "Thành phố Hà Nội")
    assert a.full == "12 Nguyễn Trãi, Phường Thanh Xuân, Thành phố Hà Nội"


def test_unknown_ward_names_the_field(session):
    with pytest.raises(AddressError) as e:
        resolve_address(session, "1", "không có phường này", "Hà Nội")
    assert e.value.field == "ward"
