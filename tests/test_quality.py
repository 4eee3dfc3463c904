"""The data-quality desk (/editor/quality): every check finds a defect seeded through the audited write path and
passes over a clean record; the page needs an editor; the counts over time, replayed from the history, follow a
defect's fix; the replay of the whole history reproduces the live registry's counts."""
import time
from datetime import datetime, timezone

from conftest import logged_in, make_app

from registry.editing import quality
from registry.exchange import apply
from registry.maps import geometry
from registry.store import db as storage
from registry.store import quality as quality_db

ORIGIN = apply.Origin("quality-test", "form")
QUOTE = [{"section": "test", "quote": "Recorded for the quality tests."}]
GHANA = [{"name": "Ghana", "precision": "country", "country": "GHA"}]
TARKWA = [{"name": "Tarkwa", "precision": "site", "lat": 5.3, "lon": -1.99, "country": "GHA"}]
NAIROBI_AS_GHANA = [{"name": "Nairobi", "precision": "site", "lat": -1.29, "lon": 36.82, "country": "GHA"}]
FUNDED = [{"org": "qt-funder", "role": "funder"}]
THIS_YEAR = datetime.now(timezone.utc).year


def project(pid, title, **fields):
    record = {"id": pid, "title": title, "kind": "project", "area": "asgm", "status": "planned",
              "countries": ["GHA"], "locations": TARKWA, "organisations": FUNDED, "sources": QUOTE}
    record.update(fields)
    return record


ORGANISATIONS = [
    {"id": "qt-funder", "name": "Quality Test Funder", "type": "government", "identifier": "XM-DAC-99999"},
    {"id": "qt-idle", "name": "Quality Test Idle Organisation", "type": "ngo", "identifier": "XM-DAC-99998"},
    {"id": "qt-anonymous", "name": "Quality Test Organisation Without Identifier", "type": "ngo"},
]
# each defect, the project (or organisation) that has it, and the check that must list it
DEFECTS = {
    "country_points_only": project("qt-country-only", "Quality test: a country point only", locations=GHANA),
    "without_funder": project("qt-no-funder", "Quality test: nobody funds this",
                              organisations=[{"org": "qt-anonymous", "role": "implementer"}]),
    "without_quote": project("qt-no-quote", "Quality test: nothing quoted", sources=[]),
    "ongoing_past_end": project("qt-overdue", "Quality test: still ongoing after its end", status="ongoing",
                                start_year=2015, end_year=THIS_YEAR - 1),
    "suspected_duplicates": project("qt-dup-a", "Mercury-free gold processing at Tarkwa (quality test)"),
    "points_outside_country": project("qt-outside", "Quality test: a Kenyan point said to be in Ghana",
                                      locations=NAIROBI_AS_GHANA),
}
DUPLICATE = project("qt-dup-b", "Mercury free gold processing in Tarkwa, quality test")
CLEAN = project("qt-clean", "Quality test: a record with no defect at all", status="ongoing", start_year=2024,
                end_year=THIS_YEAR + 2)


def write(db, **changes):
    return apply.apply_changes(db, ORIGIN, **changes)


def seed_defects(db):
    write(db, organisations=ORGANISATIONS, projects=[*DEFECTS.values(), DUPLICATE, CLEAN])


def ids(rows):
    return {row["id"] for row in rows}


def test_each_check_lists_its_seeded_defect_and_not_the_clean_record(db):
    seed_defects(db)
    found, _ = quality.find_defects(db, THIS_YEAR)
    assert list(found) == list(quality_db.CHECKS)
    for check, record in DEFECTS.items():
        assert record["id"] in ids(found[check]), check
        assert CLEAN["id"] not in ids(found[check]), check
    # each check lists exactly the test records seeded for it: no other defect leaks into another check
    expected = {check: {record["id"]} for check, record in DEFECTS.items()}
    expected.update(organisations_without_projects={"qt-idle"}, organisations_without_identifier={"qt-anonymous"})
    for check, rows in found.items():
        assert {i for i in ids(rows) if i.startswith("qt-")} == expected[check], check
    pair = next(p for p in found["suspected_duplicates"] if p["id"] == "qt-dup-a")
    assert pair["other_id"] == "qt-dup-b" and pair["countries"] == "GHA" and pair["ratio"] >= quality_db.DUPLICATE_RATIO
    outside = next(p for p in found["points_outside_country"] if p["id"] == "qt-outside")
    assert outside["name"] == "Nairobi" and outside["country"] == "GHA" and outside["distance"] > 10
    assert "qt-idle" in ids(found["organisations_without_projects"])
    assert {"qt-funder", "qt-anonymous"}.isdisjoint(ids(found["organisations_without_projects"]))
    assert "qt-anonymous" in ids(found["organisations_without_identifier"])
    assert {"qt-funder", "qt-idle"}.isdisjoint(ids(found["organisations_without_identifier"]))


def test_ongoing_counts_as_past_its_end_only_before_the_current_year(db):
    write(db, organisations=ORGANISATIONS[:1], projects=[
        project("qt-ends-now", "Quality test: ends this year", status="ongoing", end_year=THIS_YEAR),
        project("qt-done", "Quality test: completed long ago", status="completed", end_year=2010)])
    listed = ids(quality_db.ongoing_past_end(db, THIS_YEAR))
    assert {"qt-ends-now", "qt-done"}.isdisjoint(listed)
    assert "qt-ends-now" in ids(quality_db.ongoing_past_end(db, THIS_YEAR + 1))


def test_titles_alike_in_different_countries_are_no_duplicates(db):
    write(db, organisations=ORGANISATIONS[:1], projects=[
        project("qt-twin-gha", "Quality test twin: mercury-free processing"),
        project("qt-twin-ken", "Quality test twin: mercury-free processing", countries=["KEN"],
                locations=[{"name": "Kenya", "precision": "country", "country": "KEN"}])])
    assert not {"qt-twin-gha", "qt-twin-ken"} & ids(quality_db.suspected_duplicates(db))
    assert quality_db.title_similarity("Mercury-FREE  processing!", "mercury free processing") == 1.0


def test_a_point_whose_country_has_no_polygon_is_said_not_checked_not_passed():
    assert "ATG" not in geometry.boundaries() and "GHA" in geometry.boundaries()
    points = [{"id": "a", "lat": 17.12, "lon": -61.85, "country": "ATG"},
              {"id": "b", "lat": 5.3, "lon": -1.99, "country": "GHA"},
              {"id": "c", "lat": -1.29, "lon": 36.82, "country": "GHA"}]
    outside, unchecked = geometry.check_points(points)
    assert [p["id"] for p in outside] == ["c"] and [p["id"] for p in unchecked] == ["a"]
    # Fiji straddles the antimeridian: a point on either side of 180° is inside it
    assert geometry.check_points([{"lat": -16.6, "lon": 179.4, "country": "FJI"},
                                  {"lat": -16.6, "lon": -179.9, "country": "FJI"}])[0] == []


def test_the_page_needs_an_editor_and_lists_every_check(app, db):
    seed_defects(db)
    anonymous = app.test_client().get("/editor/quality")
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/login")
    editor = logged_in(app, "quality-editor", "editor")
    page = editor.get("/editor/quality")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    for heading, _ in quality.LABELS.values():
        assert heading.replace("“", "&#8220;").replace("”", "&#8221;") in html or heading in html
    for record in [*DEFECTS.values(), ORGANISATIONS[1]]:
        assert record["id"] in html
    assert '/editor/projects/qt-outside/edit' in html and '/editor/organisations/qt-anonymous/edit' in html
    assert "/editor/quality" in editor.get("/editor").get_data(as_text=True)   # linked from the dashboard
    bad = editor.get("/editor/quality?period=week")
    assert bad.status_code == 400 and "use one of month, day, write" in bad.get_data(as_text=True)


def test_counts_over_time_follow_a_fix_through_the_write_path(app, db):
    before = {name: len(rows) for name, rows in quality.find_defects(db, THIS_YEAR)[0].items()}
    write(db, organisations=ORGANISATIONS, projects=[DEFECTS["without_funder"]])
    time.sleep(1.1)   # history stamps have whole seconds: the fix is a write of its own
    fixed = dict(DEFECTS["without_funder"], organisations=FUNDED + [{"org": "qt-anonymous", "role": "implementer"}])
    write(db, projects=[fixed])
    history, unreadable = quality.counts_over_time(db, "write")
    assert unreadable == 0
    (_, added), (_, after_fix) = history[-2:]
    assert added["without_funder"] == before["without_funder"] + 1
    assert after_fix["without_funder"] == before["without_funder"]
    assert after_fix["organisations_without_identifier"] == before["organisations_without_identifier"] + 1
    # the page shows both, the trend line too
    html = logged_in(app, "quality-editor", "editor").get("/editor/quality?period=write").get_data(as_text=True)
    row = html.split('href="#without_funder"')[1].split("</tr>")[0]
    assert f"<td>{before['without_funder'] + 1}</td><td>{before['without_funder']}</td>" in row and "<polyline" in row


def test_a_deleted_record_leaves_the_counts_of_the_replay(db):
    write(db, organisations=ORGANISATIONS[1:2])
    time.sleep(1.1)
    write(db, delete=[("organisation", "qt-idle")])
    (_, with_it), (_, without) = quality.counts_over_time(db, "write")[0][-2:]
    assert with_it["organisations_without_projects"] == without["organisations_without_projects"] + 1


def test_replaying_the_whole_history_reproduces_the_live_counts(updated_instance):
    """Seed and every later source's update, all through the audited path: the replay's last state is the
    registry's (period `write`: every write is a point)."""
    folder, _ = updated_instance
    db = storage.connect(str(folder / "registry.db"), readonly=True)
    try:
        year = int(quality_db.history_periods(db, "write")[-1][:4])
        live = {name: len(rows) for name, rows in quality.find_defects(db, year)[0].items()}
        started = time.perf_counter()
        history, unreadable = quality.counts_over_time(db, "write", points=1000)
        elapsed = time.perf_counter() - started
    finally:
        db.conn.close()
    assert unreadable == 0 and history[-1][1] == live
    assert all(count > 0 for count in (live["country_points_only"], live["without_funder"]))
    assert elapsed < 5, f"replaying the history took {elapsed:.1f} s"


def test_the_cached_replay_follows_each_write(instance):
    app = make_app(instance)
    db = storage.connect(app.config["DATABASE"])
    try:
        with app.app_context():
            first = quality.cached_counts_over_time(db, "month")
            assert quality.cached_counts_over_time(db, "month") is first
            write(db, organisations=ORGANISATIONS[1:2])
            again = quality.cached_counts_over_time(db, "month")
    finally:
        db.conn.close()
    assert again is not first
    assert again[0][-1][1]["organisations_without_projects"] == first[0][-1][1]["organisations_without_projects"] + 1
