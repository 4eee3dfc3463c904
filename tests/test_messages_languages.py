"""Issue 13: the messages core and exchange write about a file or a record (the shape of a record, evidence,
the gazetteer, source records, a bad CSV or JSON, an IATI file's root) in the page's language on the web import's
preview and on an import job's page, with its one-line summary; English unchanged (Problem.message, the API's
JSON, the CLI), nothing stored. The real app, a real SQLite file, real import jobs, the committed catalogs."""
import io
import json
import re

import pytest

from conftest import page_text as text_of, catalog, csrf_token, logged_in, wait_for_job
from registry.core.sources import clean_source
from registry.core.validate import clean_organisation, clean_project
from registry.exchange import ingest

FRENCH, SPANISH = catalog("fr"), catalog("es")


@pytest.fixture
def editor(app):
    return logged_in(app, "pia", "editor")


def state(db):
    tables = ("projects", "organisations", "locations", "roles", "sources", "history")
    return {t: db.execute(f"SELECT count(*), max(rowid) FROM {t}").fetchone() for t in tables}


def upload(client, data, name, lang=None):
    url = f"/editor/import?lang={lang}" if lang else "/editor/import"
    return client.post(url, data={"csrf_token": csrf_token(client, url), "file": (io.BytesIO(data), name)})


# --- the web import's preview: a file refused as a whole, in the page's language ----------------------------

BAD_FILES = [   # (file, name, French, Spanish, English)
    (b"id,title,area,colour\nx,T,asgm,red\n", "extra.csv",
     "ligne 1 : colonne(s) inconnue(s) : colour ; les colonnes autorisées sont : id, title",
     "fila 1: columna(s) desconocida(s): colour; las columnas permitidas son: id, title",
     "row 1: unknown column(s): colour; allowed columns are: id, title"),
    (b'id,title,area\nx,"Unterminated,asgm\n', "quote.csv",
     "le fichier CSV est mal formé (", "el archivo CSV está mal formado (", "the CSV is malformed ("),
    (b"id,title\nx,T\n", "noarea.csv", "ligne 1 : la colonne obligatoire « area » est absente",
     "fila 1: falta la columna obligatoria «area»", "row 1: the required column 'area' is missing"),
    (b'{"projects": [', "cut.json", "JSON non valide à la ligne 1, colonne 15 :",
     "JSON no válido en la línea 1, columna 15:", "invalid JSON at line 1, column 15:"),
    (b'{"projects": {"id": "x"}}', "object.json", "projects : doit être une liste de projects (c'est un objet)",
     "projects: debe ser una lista de projects (es un objeto)", "projects: must be a list of projects (it is an object)"),
    (b'{"type": "FeatureCollection", "crs": {"properties": {"name": "EPSG:3857"}}, "features": []}', "merc.geojson",
     "le GeoJSON doit être en longitude/latitude WGS84 (RFC 7946) : supprimez le membre « crs »",
     "el GeoJSON debe estar en longitud/latitud WGS84 (RFC 7946); elimine el miembro «crs»",
     "the GeoJSON must be in WGS84 longitude/latitude (RFC 7946); remove the 'crs' member"),
    (json.dumps({"changes": [{"project": "no-such-project", "set": {"status": "completed"}}]}).encode(), "chg.json",
     "changes[1], champ project : le projet « no-such-project » n'existe pas : une modification porte sur une fiche",
     "changes[1], campo project: el proyecto «no-such-project» no existe: una modificación se refiere a una ficha",
     "changes[1], field project: project 'no-such-project' does not exist: a change names a record of the registry"),
    (b"\x89PNG\r\n\x1a\n....", "picture.csv", "le fichier n'est pas du texte (il ressemble à un fichier ZIP",
     "el archivo no es texto (parece un archivo ZIP", "the file is not text (it looks like a ZIP"),
    (b'<?xml version="1.0"?>\n<iati-organisations version="2.03"/>', "orgs.xml",
     "ligne 2 : l'élément racine est <iati-organisations> : celui d'un fichier d'activités IATI est <iati-activities>",
     "línea 2: el elemento raíz es <iati-organisations>: el de un archivo de actividades IATI es <iati-activities>",
     "line 2: the root element is <iati-organisations>: an IATI activity file's is <iati-activities>"),
]


@pytest.mark.parametrize("data, name, french, spanish, english", BAD_FILES, ids=[f[1] for f in BAD_FILES])
def test_a_file_refused_as_a_whole_says_why_in_the_pages_language(editor, db, data, name, french, spanish, english):
    before = state(db)
    for lang, expected in (("fr", french), ("es", spanish), ("en", english)):
        response = upload(editor, data, name, lang)
        assert response.status_code == 400, (lang, response.get_data(as_text=True)[:500])
        assert expected in text_of(response), (lang, re.findall(r'<ul class="errors">.*?</ul>',
                                                                response.get_data(as_text=True), re.S))
    assert state(db) == before


JSON_SHAPES = json.dumps({"organisations": ["unep"], "projects": [
    {"id": "shape-one", "title": "Shapes", "area": "asgm", "status": "ongoing", "sources": [{"quote": "It is."}],
     "locations": ["Nairobi"], "colour": "red",
     "organisations": [{"org": "unep", "role": "funder", "basis": "inferred", "reason": "r", "source": 1}],
     "evidence": {"status": "stated"}},
    "not a project"]}).encode()


def test_a_json_import_with_mapping_errors_lists_them_in_spanish(editor, db):
    before = state(db)
    response = upload(editor, JSON_SHAPES, "formas.json", "es")
    assert response.status_code == 400
    text = text_of(response)
    assert "projects[1], campo colour: no es un campo de un proyecto; los campos son: id, title" in text
    english = text_of(upload(editor, JSON_SHAPES, "shapes.json", "en"))
    assert "projects[1], field colour: is not a field of a project; the fields are: id, title" in english
    assert state(db) == before
    # the record-level shapes, once the unknown field is gone
    data = JSON_SHAPES.replace(b', "colour": "red"', b"")
    text = text_of(upload(editor, data, "formas.json", "es"))
    assert "organisations[1]: una organización debe ser un conjunto de campos (un objeto)" in text
    assert "projects[2]: un proyecto debe ser un conjunto de campos (un objeto)" in text
    assert "campo locations[1]: debe ser un objeto con name, precision, lat, lon" in text
    assert ("campo organisations[1].source: solo se aplica a las funciones declaradas: elimínelo o establezca el "
            "fundamento en «stated»") in text
    assert "campo evidence.status: debe ser {basis: stated, source: N} or {basis: inferred, reason: ...}" in text
    assert "must be" not in text and "is only for" not in text
    assert state(db) == before


# --- an import job's page: its errors and its summary in the reader's language, its JSON in English ------

def test_a_jobs_problems_are_written_in_the_readers_language_and_its_json_stays_english(app, editor, db):
    orgs = {"organisations": [{"id": "gone-org", "name": "Gone Org", "type": "ngo"}]}
    ingest.import_data(db, json.dumps(orgs).encode(), "json")
    data = b"id,title,area,locations,leads\norphan-1,Orphan,asgm,Global|||global,gone-org\n"
    page = upload(editor, data, "orphan.csv", "fr")
    action = re.search(r'action="(/editor/import/[0-9a-f]{32})', page.get_data(as_text=True)).group(1)
    db.execute("DELETE FROM organisations WHERE id = 'gone-org'")    # behind the preview's back
    db.conn.commit()
    job = wait_for_job(editor, editor.post(action, data={"csrf_token": csrf_token(editor, "/editor")}))
    assert job["status"] == "failed" and all(isinstance(e, str) for e in job["errors"])
    assert job["errors"][0].startswith("row 2, column funders/leads/implementers/partners: organisation 'gone-org' "
                                       "does not exist (named as lead)")
    french = text_of(editor.get(f"/editor/jobs/{job['id']}?lang=fr"))
    assert "ligne 2, colonne funders/leads/implementers/partners : l'organisation « gone-org » n'existe pas" in french
    assert "does not exist" not in french
    english = text_of(editor.get(f"/editor/jobs/{job['id']}?lang=en"))
    assert job["errors"][0] in english


def test_a_finished_jobs_summary_reads_in_the_readers_language(editor, db):
    data = b"id,title,area,locations\nsummed-1,Summed,asgm,Global|||global\n"
    page = upload(editor, data, "summed.csv", "en")
    action = re.search(r'action="(/editor/import/[0-9a-f]{32})', page.get_data(as_text=True)).group(1)
    job = wait_for_job(editor, editor.post(action, data={"csrf_token": csrf_token(editor, "/editor")}))
    assert job["status"] == "succeeded", job["errors"]
    english = ("Added 1, changed 0, unchanged 0, deleted 0 projects; added 0, changed 0, unchanged 0, deleted 0 "
               "organisations.")
    assert job["report"]["summary"] == english
    assert english in text_of(editor.get(f"/editor/jobs/{job['id']}"))
    french = text_of(editor.get(f"/editor/jobs/{job['id']}?lang=fr"))
    assert ("Projets : 1 ajoutés, 0 modifiés, 0 inchangés, 0 supprimés ; organisations : 0 ajoutées, 0 modifiées, "
            "0 inchangées, 0 supprimées.") in french and english not in french
    spanish = text_of(editor.get(f"/editor/jobs/{job['id']}?lang=es"))
    assert ("Proyectos: 1 añadidos, 0 modificados, 0 sin cambios, 0 eliminados; organizaciones: 0 añadidas") in spanish


# --- core's messages: English as before, French and Spanish through their templates ------------------------

def messages(problems):
    return {p.field: p for p in problems}


def test_evidence_and_support_messages_translate_through_their_templates():
    _, problems = clean_project({
        "id": "x", "title": "T", "area": "asgm", "status": "ongoing", "sources": [{"quote": "q"}],
        "locations": [{"name": "Kenya", "precision": "country", "basis": "stated", "reason": "why"}],
        "evidence": {"colour": {}, "status": "stated"}})
    found = messages(problems)
    reason = found["locations[1].reason"]
    assert reason.message == "is only for inferred locations: remove it, or set basis to 'inferred'"
    assert reason.message_in(FRENCH) == ("ne s'applique qu'aux lieux déduits : supprimez-la, ou réglez le fondement "
                                         "sur « inferred »")
    assert reason.message_in(SPANISH).startswith("solo se aplica a los lugares deducidos")
    colour = found["evidence.colour"]
    assert colour.message == ("'colour' is not a field whose basis is recorded; evidence records the basis of: "
                              "status, start_year, end_year")
    assert colour.message_in(SPANISH) == ("«colour» no es un campo cuyo fundamento se registre; evidence registra el "
                                          "fundamento de: status, start_year, end_year")
    assert found["evidence.status"].message_in(FRENCH).startswith("doit être {basis: stated, source: N}")
    _, problems = clean_project({"id": "x", "title": "T", "area": "asgm", "locations": {"name": "Kenya"}})
    shape = next(p for p in problems if p.field == "locations")
    assert (shape.message, shape.message_in(FRENCH)) == ("must be a list of locations", "doit être une liste de lieux")


def test_gazetteer_messages_translate_through_their_templates():
    _, problems = clean_project({"id": "x", "title": "T", "area": "asgm", "locations": [
        {"name": "A", "precision": "site", "gazetteer_id": "nowhere:1"},
        {"name": "B", "precision": "site", "lat": 1, "lon": 2, "coords_source": "gazetteer"}]})
    unknown, missing = (p for p in problems if p.field.endswith("gazetteer_id"))
    assert unknown.message.startswith("'nowhere:1' is not in the registry's gazetteer (geodata/gazetteer.csv)")
    assert unknown.message_in(FRENCH).startswith("« nowhere:1 » ne figure pas dans le répertoire géographique")
    assert missing.message_in(SPANISH).startswith("obligatorio cuando coords_source es «gazetteer»")


def test_organisation_and_source_shapes_translate():
    _, problems = clean_organisation("unep", "organisations[3]")
    assert problems[0].describe() == "organisations[3]: an organisation must be a mapping of fields"
    assert problems[0].describe(SPANISH) == "organisations[3]: una organización debe ser un conjunto de campos (un objeto)"
    _, problems = clean_source({"id": "s1", "title": "T", "publisher": "P", "date": "2024", "url": "https://x.org",
                                "colour": "red"}, "sources[1]")
    colour = messages(problems)["colour"]
    assert colour.message.startswith("is not a field of a source; the fields are: id, title")
    assert colour.describe(FRENCH).startswith("sources[1], champ colour : n'est pas un champ d'une source ; les "
                                              "champs sont : id, title")
