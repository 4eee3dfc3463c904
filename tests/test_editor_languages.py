"""Issue 13: the editor, the accounts pages, the web import, moderation, the history and the data-quality desk
in French and Spanish: headings, labels, the error summary and each field's message, flash messages, and the
validation messages core writes in English (Problem.message stays English for exports, the API and the CLI).
The real app, a real SQLite file, the committed catalogs; pages read the way a browser gets them."""
import gettext
import html
import io
import re

import pytest

from conftest import page_text as text_of, add_user, csrf_token, logged_in, post_form, read_form, set_field
from registry.core.validate import Checker, clean_project
from registry.web.language import TRANSLATIONS_DIR


def heading(response):
    return html.unescape(re.sub(r"<[^>]+>", "", re.search(r"<h1>(.*?)</h1>", response.get_data(as_text=True),
                                                          re.S).group(1))).strip()


def field_error(page, name):
    block = re.search(rf'<div class="field-error" id="err-{name}">(.*?)</div>', page, re.S)
    assert block, f"no message next to {name}"
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", block.group(1)))).strip()


def state(db):
    tables = ("projects", "organisations", "locations", "roles", "sources", "history")
    return {t: db.execute(f"SELECT count(*), max(rowid) FROM {t}").fetchone() for t in tables}


# (url, role, {lang: (heading, words the page shows: a label, a hint, a button)}); English stays the default
PAGES = [
    ("/editor", "editor", {"fr": ("Édition du registre", ["Dernières modifications", "Tableau de bord"]),
                           "es": ("Edición del registro", ["Últimos cambios", "Panel"])}),
    ("/editor/organisations/new", "editor",
     {"fr": ("Nouvelle organisation", ["Sigle", "Autres noms", "Créer l'organisation", "* obligatoire"]),
      "es": ("Nueva organización", ["Sigla", "Otros nombres", "Crear la organización", "* obligatorio"])}),
    ("/editor/sources", "editor", {"fr": ("Sources", ["Ajouter une source", "Citée par"]),
                                   "es": ("Fuentes", ["Añadir una fuente", "Citada por"])}),
    ("/editor/sources/new", "editor", {"fr": ("Nouvelle source", ["AAAA-MM-JJ : date de lecture", "Créer la source", "page web"]),
                                       "es": ("Nueva fuente", ["AAAA-MM-DD: cuándo se leyó", "Crear la fuente", "página web"])}),
    ("/editor/import", "editor", {"fr": ("Importer des projets et des organisations", ["Fichier", "Vérifier le fichier"]),
                                  "es": ("Importar proyectos y organizaciones", ["Archivo", "Comprobar el archivo"])}),
    ("/editor/history", "editor", {"fr": ("Historique", ["Quand (UTC)", "création"]),
                                   "es": ("Historial", ["Cuándo (UTC)", "creación"])}),
    ("/editor/quality", "editor", {"fr": ("Qualité des données", ["Évolution des nombres", "Aucun bailleur de fonds"]),
                                   "es": ("Calidad de los datos", ["Evolución de los recuentos", "Sin financiador"])}),
    ("/editor/proposals", "editor", {"fr": ("Projets proposés : en attente", ["Aucune proposition en attente."]),
                                     "es": ("Proyectos propuestos: pendientes", ["No hay propuestas pendientes."])}),
    ("/account", "editor", {"fr": ("Votre compte", ["Nom d'utilisateur", "Se déconnecter partout", "éditeur"]),
                            "es": ("Su cuenta", ["Nombre de usuario", "Cerrar sesión en todas partes", "editor"])}),
    ("/account/password", "editor", {"fr": ("Changer votre mot de passe", ["Mot de passe actuel", "au moins 12 caractères"]),
                                     "es": ("Cambiar su contraseña", ["Contraseña actual", "al menos 12 caracteres"])}),
    ("/admin/users", "admin", {"fr": ("Utilisateurs", ["Nouvel utilisateur", "Créer l'utilisateur", "administrateur"]),
                               "es": ("Usuarios", ["Nuevo usuario", "Crear el usuario", "administrador"])}),
    ("/propose", None, {"fr": ("Proposer un projet", ["Lieu principal", "Envoyer la proposition", "En cours"]),
                        "es": ("Proponer un proyecto", ["Lugar principal", "Enviar la propuesta", "En curso"])}),
]


@pytest.mark.parametrize("lang", ["fr", "es"])
@pytest.mark.parametrize("url, role, expected", PAGES, ids=[p[0] for p in PAGES])
def test_editing_pages_speak_the_chosen_language(app, url, role, expected, lang):
    client = logged_in(app, f"{role}-{lang}", role) if role else app.test_client()
    response = client.get(url, query_string={"lang": lang})
    assert response.status_code == 200
    assert f'<html lang="{lang}">' in response.get_data(as_text=True)
    title, words = expected[lang]
    assert heading(response) == title
    text = text_of(response)
    for word in words:
        assert word in text, (url, lang, word)
    english = client.get(url, query_string={"lang": "en"})
    assert words[0] not in text_of(english)                               # English is still English


def test_an_invalid_project_form_in_french_says_what_is_wrong_in_french_and_keeps_the_input(editor, db):
    before = state(db)
    fields = read_form(editor.get("/editor/projects/new?lang=fr").get_data(as_text=True))
    for name, value in {"title": "", "area": "", "website": "javascript:alert(1)", "start_year": "20x5",
                        "loc-1-name": "Quelque part", "loc-1-precision": "site", "loc-1-lat": "200"}.items():
        set_field(fields, name, value)
    response = post_form(editor, "/editor/projects/new?lang=fr", fields)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    summary = html.unescape(re.search(r'<div class="form-errors".*?</ul></div>', page, re.S).group(0))
    assert "Il y a un problème" in summary and "Rien n'a été enregistré." in summary
    count = len(re.findall(r"<li>", summary))
    assert f"Corrigez les {count} problèmes ci-dessous" in summary
    assert re.search(r'<a href="#f-title">Titre</a> : champ obligatoire', summary)
    assert field_error(page, "title") == "Erreur : Titre : champ obligatoire"        # the label, then the message
    assert field_error(page, "start_year") == "Erreur : « 20x5 » n'est pas une année comprise entre 1900 et 2100"
    assert "seules les adresses web http:// et https:// sont autorisées" in field_error(page, "website")
    assert "doit être comprise entre -90 et 90" in field_error(page, "loc-1-lat")
    # an unknown area lists the areas by their French labels, not by their codes
    assert "Extraction minière artisanale et à petite échelle d'or (EMAPE)" in field_error(page, "area")
    assert "cross-cutting" not in field_error(page, "area")
    assert "is required" not in page and "There is a problem" not in page
    assert re.search(r"<title>Erreur : ", page)
    assert 'value="Quelque part"' in page and 'value="20x5"' in page and 'value="200"' in page   # input kept
    assert state(db) == before


def test_a_flash_message_after_a_save_in_spanish(editor, db):
    fields = read_form(editor.get("/editor/sources/new?lang=es").get_data(as_text=True))
    for name, value in {"id": "informe-anual-2023", "title": "Informe anual 2023", "publisher": "Instituto Quetzal",
                        "date": "2024-02", "url": "https://example.org/informe-2023", "kind": "report"}.items():
        set_field(fields, name, value)
    response = post_form(editor, "/editor/sources/new?lang=es", fields)
    assert response.status_code == 302 and "lang=es" in response.headers["Location"]
    page = editor.get(response.headers["Location"])
    assert "Fuente «informe-anual-2023» guardada." in text_of(page)
    assert db.execute("SELECT count(*) FROM documents WHERE id = 'informe-anual-2023'").fetchone()[0] == 1


def test_the_login_page_and_a_wrong_password_in_french(app):
    add_user(app, "lucie", "editor")
    client = app.test_client()
    page = client.get("/login?lang=fr")
    assert heading(page) == "Se connecter"
    assert "Nom d'utilisateur" in text_of(page) and "Mot de passe" in text_of(page)
    assert "proposer un projet" in text_of(page)
    token = csrf_token(client, "/login?lang=fr")
    wrong = client.post("/login?lang=fr", data={"csrf_token": token, "username": "lucie", "password": "not it at all"})
    assert wrong.status_code == 401
    text = text_of(wrong)
    assert "Nom d'utilisateur ou mot de passe incorrect." in text and "Vous n'êtes pas connecté." in text
    assert "Wrong username or password" not in text
    assert re.search(r"<title>Erreur : Se connecter", wrong.get_data(as_text=True))
    empty = client.post("/login?lang=fr", data={"csrf_token": token, "username": "", "password": ""})
    assert empty.status_code == 400
    assert field_error(empty.get_data(as_text=True), "username") == \
        "Erreur : Nom d'utilisateur : vide : saisissez votre nom d'utilisateur"
    assert "Corrigez les 2 problèmes ci-dessous, puis connectez-vous de nouveau." in text_of(empty)


def test_a_rejected_import_lists_its_problems_in_spanish(editor, db, instance):
    data = b"id,title,area,locations\nok-one,Fine,asgm,Global|||global\nbad-one,,asgm,Here|95|0|site\n"
    before = state(db)
    response = editor.post("/editor/import?lang=es", data={"csrf_token": csrf_token(editor, "/editor/import?lang=es"),
                                                           "file": (io.BytesIO(data), "malo.csv")})
    assert response.status_code == 400
    text = text_of(response)
    assert "El archivo ha sido rechazado; no se ha guardado nada." in text
    assert "fila 3, columna title: campo obligatorio" in text
    assert "fila 3, columna locations (entrada 1, lat): 95 está fuera del intervalo" in text
    assert "row 3" not in text and state(db) == before


def test_problem_messages_stay_english_and_translate_through_their_template():
    french = gettext.translation("messages", str(TRANSLATIONS_DIR), languages=["fr"])
    c = Checker("row 4")
    c.text("x" * 250, "title", max_len=200)
    c.year("20x5", "start_year")
    long, year = c.problems
    assert long.message == "is 250 characters long; the maximum is 200: shorten it"      # exports, API, CLI
    assert long.as_dict()["message"] == long.message and str(long) == "row 4: title: " + long.message
    assert long.message_in(french) == "compte 250 caractères ; le maximum est de 200 : raccourcissez le texte"
    assert year.describe() == "row 4, column start_year: '20x5' is not a year between 1900 and 2100"
    assert year.describe(french) == "ligne 4, colonne start_year : « 20x5 » n'est pas une année comprise entre 1900 et 2100"
    _, problems = clean_project({"id": "x", "title": "T", "area": "asgm", "start_year": 2020, "end_year": 2019,
                                 "locations": [{"name": "Kenya", "precision": "country"}]})
    [order] = [p for p in problems if p.field == "end_year"]
    assert order.message == "2019 is before the start year 2020: correct either year"
    assert order.message_in(french) == "2019 est antérieure à l'année de début 2020 : corrigez l'une des deux années"


def test_a_change_and_a_delete_page_in_spanish(admin, db):
    fields = read_form(admin.get("/editor/sources/new?lang=es").get_data(as_text=True))
    for name, value in {"id": "nota-2024", "title": "Nota 2024", "publisher": "Quetzal", "date": "2024",
                        "reference": "Q/1", "kind": "news"}.items():
        set_field(fields, name, value)
    assert post_form(admin, "/editor/sources/new?lang=es", fields).status_code == 302
    change_id = db.execute("SELECT max(id) FROM history WHERE entity = 'source'").fetchone()[0]
    change = admin.get(f"/editor/history/{change_id}?lang=es")
    assert heading(change) == f"Cambio n.º {change_id}: creación, fuente nota-2024"
    assert "Revertir este cambio" in text_of(change) and "Cuándo (UTC)" in text_of(change)
    delete = admin.get("/editor/sources/nota-2024/delete?lang=es")
    assert heading(delete) == "¿Eliminar «Nota 2024» (fuente)?"
    assert "Cancelar" in text_of(delete)
    gone = admin.post("/editor/sources/nota-2024/delete?lang=es",
                      data={"csrf_token": csrf_token(admin, "/editor?lang=es"), "version": "1"})
    assert gone.status_code == 302
    assert "Eliminado: la fuente «nota-2024». El historial lo conserva" in text_of(admin.get(gone.headers["Location"]))
