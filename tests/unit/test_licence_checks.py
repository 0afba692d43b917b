"""The licence checks against the booking: name, validity, category, age, confidence."""

from datetime import date, datetime, timezone

import pytest

from bot.licence_checks import LicenceReading, check, names_match
from bot.models import Booking, Customer, Tenant, Vehicle

SURE = {k: 0.95 for k in ("surname", "given_names", "birth_date", "expiry_date",
                          "licence_number")}


def booking(name: str = "Anna Müller", category: str = "B") -> Booking:
    return Booking(ref="CR-48213", pickup_at=datetime(2027, 3, 10, 8, tzinfo=timezone.utc),
                   return_at=datetime(2027, 3, 14, 16, tzinfo=timezone.utc),
                   customer=Customer(name=name), vehicle=Vehicle(plate="ZH 1", category=category))


TENANT = Tenant(slug="t", name="T", settings={"min_renter_age": 21})


def reading(**changes) -> LicenceReading:  # type: ignore[no-untyped-def]
    values = dict(is_licence=True, surname="MÜLLER", given_names="ANNA MARIA",
                  birth_date=date(1990, 3, 12), expiry_date=date(2031, 5, 1),
                  licence_number="ZH123456", categories=("A1", "B"), confidence=dict(SURE))
    values.update(changes)
    return LicenceReading(**values)


def codes(problems) -> list[str]:  # type: ignore[no-untyped-def]
    return [p.code for p in problems]


def test_a_good_licence_passes():
    assert check(reading(), booking(), TENANT) == []


@pytest.mark.parametrize("licence, renter", [
    ("ANNA MARIA MÜLLER", "Anna Müller"), ("MUELLER ANNA", "Anna Müller"),
    ("Favre Chloé", "Chloé Favre"), ("ROSSI MARCO", "Marco Rossi"),
    ("JAMES A. MILLER", "James Miller")])
def test_names_match_across_accents_order_and_middle_names(licence, renter):
    assert names_match(licence, renter)


@pytest.mark.parametrize("licence, renter", [
    ("PETER MÜLLER", "Anna Müller"), ("ANNA MEIER", "Anna Müller"), ("", "Anna Müller")])
def test_another_person_does_not_match(licence, renter):
    assert not names_match(licence, renter)


def test_each_failed_check_has_its_reason():
    assert codes(check(reading(surname="MEIER"), booking(), TENANT)) == ["name_mismatch"]
    assert codes(check(reading(expiry_date=date(2027, 3, 13)), booking(), TENANT)) == [
        "expires_before_return"]
    assert codes(check(reading(categories=("A", "A1")), booking(), TENANT)) == [
        "category_missing"]
    assert codes(check(reading(categories=("B",)), booking(category="C1"), TENANT)) == [
        "category_missing"]
    assert codes(check(reading(birth_date=date(2006, 3, 11)), booking(), TENANT)) == [
        "too_young"]
    assert codes(check(reading(birth_date=date(2006, 3, 10)), booking(), TENANT)) == []  # 21 today


def test_unreadable_or_unsure_fields_go_to_staff_not_through():
    unsure = dict(SURE, licence_number=0.4)
    assert codes(check(reading(confidence=unsure), booking(), TENANT)) == ["low_confidence"]
    assert codes(check(reading(expiry_date=None), booking(), TENANT)) == ["expiry_unreadable"]
    assert codes(check(reading(categories=()), booking(), TENANT)) == ["categories_unreadable"]
    assert all(p.needs_staff for p in check(reading(confidence=unsure), booking(), TENANT))


def test_not_a_licence_asks_again_without_staff():
    [problem] = check(LicenceReading(is_licence=False), booking(), TENANT)
    assert problem.code == "not_a_licence" and not problem.needs_staff


def test_scan_json_is_the_design_contract():
    body = reading().to_json()
    assert {"is_licence", "surname", "given_names", "birth_date", "expiry_date",
            "licence_number", "categories", "confidence", "problems"} <= set(body)
    assert body["birth_date"] == "1990-03-12" and body["categories"] == ["A1", "B"]
