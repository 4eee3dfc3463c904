"""Issue 17, forms and errors: every form of the site follows one error pattern (templates/editor/_fields.html).
For each form, invalid input is submitted through the real app, and the answer is read as a browser and a
screen reader would: an error summary with a heading, its links worded as the fields' visible labels and
pointing at elements that exist; each invalid field aria-invalid and described by an element saying
"Error: ..."; the page title starting with "Error: "; required fields coded as required, with the meaning
of "*" said at the top. The last test checks in a real browser that the focus lands on the summary."""
import shutil
from html.parser import HTMLParser
from io import BytesIO

import pytest
from playwright.sync_api import expect

from conftest import PASSWORD, add_user, csrf_token, logged_in, make_app, post_form, read_form, serve, set_field
from registry.core.validate import AREAS
from registry.editing import forms
from registry.editing.auth import LOGIN_LABELS, PASSWORD_LABELS
from registry.editing.moderation import PROPOSE_LABELS
from registry.store import db as storage

FIELD_TAGS = ("input", "select", "textarea")
REQUIRED_NOTE = "* required: fields marked * must be filled in."


class Page(HTMLParser):
    """What a page offers assistive technology: the title; every element by id (tag, attributes, text);
    the words of each label (by the id it is for); the error summary (its attributes, heading, links)."""

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.title, self.elements, self.labels, self.links = "", {}, {}, []
        self.summary, self.summary_heading = None, ""
        self._in_title, self._open, self._label, self._link, self._heading = False, [], None, None, False
        self._summary_depth, self.html = None, html
        self.groups, self._legend, self._in_legend = {}, "", False   # checkbox id -> its group's legend
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "title":
            self._in_title = True
        if a.get("id"):
            self.elements[a["id"]] = {"tag": tag, "attrs": a, "text": ""}
            if tag not in ("input",):
                self._open.append(a["id"])
        if tag == "div" and a.get("id") == "form-errors":
            self.summary, self._summary_depth = a, 0
        elif tag == "div" and self._summary_depth is not None:
            self._summary_depth += 1
        if self._summary_depth is not None and tag == "h2":
            self._heading = True
        if self._summary_depth is not None and tag == "a":
            self._link = [a.get("href", ""), ""]
            self.links.append(self._link)
        if tag == "fieldset":
            self._legend = ""
        if tag == "legend":
            self._in_legend = True
        if tag == "input" and a.get("type") == "checkbox" and a.get("id"):
            self.groups[a["id"]] = self._legend or ""
        if tag == "label" and a.get("for"):
            self._label = a["for"]
            self.labels[self._label] = ""
        if tag == "span" and "aria-hidden" in a and self._label:
            self._label = ("hidden", self._label)     # the "*" is not part of the label's words

    def handle_endtag(self, tag):
        if tag == "legend":
            self._in_legend = False
        if tag == "title":
            self._in_title = False
        if tag == "span" and isinstance(self._label, tuple):
            self._label = self._label[1]
        if tag == "label":
            self._label = None
        if tag == "a":
            self._link = None
        if tag == "h2":
            self._heading = False
        if tag == "div" and self._summary_depth is not None:
            self._summary_depth = None if self._summary_depth == 0 else self._summary_depth - 1
        if self._open and self.elements[self._open[-1]]["tag"] == tag:
            self._open.pop()

    def handle_data(self, data):
        if self._in_legend:
            self._legend += data
        if self._in_title:
            self.title += data
        for element_id in self._open:
            self.elements[element_id]["text"] += data
        if isinstance(self._label, str):
            self.labels[self._label] += data
        if self._link is not None:
            self._link[1] += data
        if self._heading:
            self.summary_heading += data

    def fields(self):
        return {e["attrs"].get("name"): (element_id, e) for element_id, e in self.elements.items()
                if e["tag"] in FIELD_TAGS and e["attrs"].get("name")
                and not element_id[2:].startswith(e["attrs"]["name"] + "-")}   # first checkbox of a group

    def visible_label(self, element_id):
        """The words naming a field: its group's legend (check boxes), its <label>, else its aria-label
        (a table cell)."""
        if element_id in self.groups:
            return " ".join(self.groups[element_id].split())
        if element_id in self.labels:
            return " ".join(self.labels[element_id].split())
        return self.elements[element_id]["attrs"].get("aria-label", "")


def check_error_page(response, invalid, required=()):
    """`invalid`: {field name: words its message holds}. Returns the Page."""
    assert 400 <= response.status_code < 500, response.status_code
    page = Page(response.get_data(as_text=True))
    assert page.title.startswith("Error: "), page.title
    assert page.summary is not None, "no error summary"
    assert page.summary.get("tabindex") == "-1" and page.summary.get("aria-labelledby") == "form-errors-title"
    assert page.summary_heading.strip() == "There is a problem"
    assert page.links, "the summary links to no field"
    for href, text in page.links:
        target = href[1:]
        assert href.startswith("#") and target in page.elements, href
        assert text.strip() == page.visible_label(target), (href, text, page.visible_label(target))
    fields = page.fields()
    marked = {name for name, (_, e) in fields.items() if e["attrs"].get("aria-invalid") == "true"}
    assert marked == set(invalid), marked
    for name, words in invalid.items():
        element_id, element = fields[name]
        described = element["attrs"].get("aria-describedby", "").split()
        messages = [page.elements[i]["text"] for i in described if i in page.elements]
        assert any("Error:" in m and words in m for m in messages), (name, messages)
        assert f"#{element_id}" in [href for href, _ in page.links], f"the summary does not link to {name}"
    check_required(page, required)
    return page


def check_required(page, required):
    fields = page.fields()
    for name in required:
        attrs = fields[name][1]["attrs"]
        assert "required" in attrs and attrs.get("aria-required") == "true", name
    if required:
        assert REQUIRED_NOTE in page.html, "the form does not say what * means"


def check_labels_and_hints(html, labels=None):
    """On a form as first shown: the words the summary would use for each field (forms.field_label) are its
    visible label, and every hint is tied to its field."""
    page = Page(html)
    fields = page.fields()
    assert fields
    for name, (element_id, _) in fields.items():
        if element_id.startswith("f-") and element_id != "f-homepage":
            assert forms.field_label(name, labels) == page.visible_label(element_id), name
    hints = [i for i in page.elements if i.startswith("hint-")]
    assert hints
    for hint in hints:
        field_id = "f-" + hint[len("hint-"):]
        assert hint in page.elements[field_id]["attrs"].get("aria-describedby", "").split(), hint
    assert REQUIRED_NOTE in html
    return page


@pytest.fixture
def empty_app(tmp_path):
    """The real app on an empty instance (its tables created): forms that need no records."""
    app = make_app(tmp_path, UPLOAD_DIR=str(tmp_path / "uploads"), CHECK_INDEX_ON_START=False)
    storage.migrate(storage.connect(app.config["DATABASE"]))
    return app


# --- /propose ---------------------------------------------------------------------------------------------

def test_propose_names_fields_by_their_labels_and_areas_by_their_names(empty_app):
    client = empty_app.test_client()
    response = client.post("/propose", data={"csrf_token": csrf_token(client, "/propose"), "area": "",
                                             "countries": "Narnia", "loc-1-precision": "site"})
    page = check_error_page(response, {"title": "Title is required", "area": AREAS["asgm"],
                                       "countries": "'Narnia' is not a country", "loc-1-name": "at least one location"},
                            required=("title", "area", "loc-1-name"))
    words = {href: " ".join(text.split()) for href, text in page.links}
    assert words == {"#f-title": "Title", "#f-area": "Partnership area", "#f-countries": "Countries",
                     "#f-loc-1-name": "Place name"}
    area_message = page.elements["err-area"]["text"]
    assert all(name in area_message for name in AREAS.values()) and "asgm, chlor-alkali" not in area_message


def test_propose_labels_and_hints_as_first_shown(empty_app):
    html = empty_app.test_client().get("/propose").get_data(as_text=True)
    page = check_labels_and_hints(html, dict(PROPOSE_LABELS))
    check_required(page, ("title", "area", "loc-1-name"))
    assert "Error" not in page.title and page.summary is None


# --- login, password, users ------------------------------------------------------------------------------

def test_an_empty_login_says_which_fields_are_empty(empty_app):
    client = empty_app.test_client()
    token = csrf_token(client)
    both = client.post("/login", data={"csrf_token": token, "username": "", "password": ""})
    check_error_page(both, {"username": "Username is empty", "password": "Password is empty"},
                     required=("username", "password"))
    only_password = client.post("/login", data={"csrf_token": token, "username": "vera", "password": ""})
    page = check_error_page(only_password, {"password": "Password is empty"})
    assert page.fields()["username"][1]["attrs"]["value"] == "vera"     # what was typed stays
    assert "value" not in page.fields()["password"][1]["attrs"]          # a password is never sent back


def test_a_wrong_login_is_an_error_about_the_form_naming_no_field(empty_app):
    client = empty_app.test_client()
    add_user(empty_app, "vera", "editor")
    response = client.post("/login", data={"csrf_token": csrf_token(client), "username": "vera",
                                           "password": "not the password at all"})
    assert response.status_code == 401
    page = Page(response.get_data(as_text=True))
    assert page.title.startswith("Error: ") and "Wrong username or password." in page.elements["form-errors"]["text"]
    assert page.links == [] and not any(e["attrs"].get("aria-invalid") for e in page.elements.values())


def test_the_password_form_marks_the_field_at_fault(empty_app):
    client = logged_in(empty_app, "vera", "editor")
    page = check_labels_and_hints(client.get("/account/password").get_data(as_text=True), PASSWORD_LABELS)
    check_required(page, tuple(PASSWORD_LABELS))
    token = csrf_token(client, "/account/password")
    cases = [({"current_password": "wrong", "new_password": "twelve chars ok", "confirm_password": "twelve chars ok"},
              {"current_password": "Current password is not right"}),
             ({"current_password": PASSWORD, "new_password": "twelve chars ok", "confirm_password": "twelve chars OK"},
              {"confirm_password": "differs from the new password"}),
             ({"current_password": PASSWORD, "new_password": "short", "confirm_password": "short"},
              {"new_password": "too short"}),
             ({}, {name: "is empty" for name in PASSWORD_LABELS})]
    for data, invalid in cases:
        check_error_page(client.post("/account/password", data=dict(data, csrf_token=token)), invalid,
                         required=tuple(PASSWORD_LABELS))


def test_the_new_user_form_marks_the_username(empty_app):
    admin = logged_in(empty_app, "ada", "admin")
    token = csrf_token(admin, "/admin/users")
    bad = admin.post("/admin/users", data={"csrf_token": token, "username": "Not Valid!", "role": "editor"})
    check_error_page(bad, {"username": "a username has 2-40 characters"}, required=("username", "role"))
    taken = admin.post("/admin/users", data={"csrf_token": token, "username": "ada", "role": "editor"})
    check_error_page(taken, {"username": "is taken"})
    no_role = admin.post("/admin/users", data={"csrf_token": token, "username": "bob", "role": "owner"})
    check_error_page(no_role, {"role": "choose a role"})


def test_the_import_form_marks_the_missing_file(empty_app):
    editor = logged_in(empty_app, "vera", "editor")
    token = csrf_token(editor, "/editor/import")
    no_file = editor.post("/editor/import", data={"csrf_token": token}, content_type="multipart/form-data")
    check_error_page(no_file, {"file": "choose a file"}, required=("file",))
    no_format = editor.post("/editor/import", data={"csrf_token": token, "format": "xlsx",
                                                  "file": (BytesIO(b"id,title"), "data.csv")},
                            content_type="multipart/form-data")
    check_error_page(no_format, {"format": "choose the file's format"})


# --- the editor's record forms ----------------------------------------------------------------------------

@pytest.fixture
def seeded_editor(app):
    return logged_in(app, "vera", "editor")


def test_the_project_form_points_list_errors_at_their_rows(app, seeded_editor):
    html = seeded_editor.get("/editor/projects/new").get_data(as_text=True)
    check_labels_and_hints(html)
    db = storage.connect(app.config["DATABASE"])
    first, second = [r[0] for r in db.execute("SELECT id FROM organisations ORDER BY id LIMIT 2")]
    fields = read_form(html)
    for name, value in {"title": "Rows at fault", "area": "coal", "org-1-org": first, "org-1-role": "funder",
                        "org-2-org": second, "org-2-role": "lead", "org-2-basis": "stated",
                        "org-2-source": "7"}.items():
        set_field(fields, name, value)
    response = post_form(seeded_editor, "/editor/projects/new", fields)
    page = check_error_page(response, {"loc-1-name": "at least one location", "org-2-source": ""},
                            required=("title", "area", "loc-1-name"))
    words = {href: text for href, text in page.links}
    assert words["#f-loc-1-name"] == "Location 1 name" and words["#f-org-2-source"] == "Organisation 2 source"


def test_the_project_form_names_areas_by_their_names(app, seeded_editor):
    fields = read_form(seeded_editor.get("/editor/projects/new").get_data(as_text=True))
    set_field(fields, "title", "No area")
    set_field(fields, "loc-1-name", "Global")
    set_field(fields, "loc-1-precision", "global")
    fields.append(["other_areas", "mining"])          # a value no box offers (a tampered form)
    page = check_error_page(post_form(seeded_editor, "/editor/projects/new", fields),
                            {"area": AREAS["coal"], "other_areas": AREAS["waste"]})
    assert "asgm, chlor-alkali" not in page.elements["form-errors"]["text"]


def test_the_organisation_form(app, seeded_editor):
    html = seeded_editor.get("/editor/organisations/new").get_data(as_text=True)
    check_labels_and_hints(html)
    fields = read_form(html)
    set_field(fields, "website", "ftp://acme.example")
    check_error_page(post_form(seeded_editor, "/editor/organisations/new", fields),
                     {"id": "Id is required", "name": "Name is required", "website": "only http:// and https://"},
                     required=("name",))


def test_the_source_form(app, seeded_editor):
    html = seeded_editor.get("/editor/sources/new").get_data(as_text=True)
    check_labels_and_hints(html)
    fields = read_form(html)
    set_field(fields, "date", "yesterday")
    page = check_error_page(post_form(seeded_editor, "/editor/sources/new", fields),
                            {"id": "Id is required", "title": "Title is required",
                             "publisher": "Publisher is required", "date": "", "url": "needs a url or a reference"},
                            required=("title", "publisher"))
    assert [text for _, text in page.links][:3] == ["Id", "Title", "Publisher"]


def test_an_edit_form_keeps_its_title_and_adds_error(app, seeded_editor):
    project_id = storage.connect(app.config["DATABASE"]).execute("SELECT id FROM projects LIMIT 1").fetchone()[0]
    url = f"/editor/projects/{project_id}/edit"
    html = seeded_editor.get(url).get_data(as_text=True)
    title = Page(html).title
    assert title.startswith("Edit ") and "Error" not in title
    fields = set_field(read_form(html), "title", "")
    page = check_error_page(post_form(seeded_editor, url, fields), {"title": "Title is required"})
    assert page.title.startswith("Error: Edit ")


# --- in a browser: the focus ------------------------------------------------------------------------------

@pytest.mark.slow
def test_the_focus_moves_to_the_summary_and_its_links_to_the_fields(browser, seeded_instance, tmp_path):
    folder = tmp_path / "instance"
    shutil.copytree(seeded_instance, folder)
    server, base = serve(make_app(folder))
    try:
        context = browser.new_context(base_url=base)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        for url, button in (("/login", "Log in"), ("/propose", "Send the proposal")):
            page.goto(url)
            assert page.evaluate("document.activeElement === document.body")   # no summary: focus untouched
            page.click(f"button:text('{button}')")
            page.wait_for_load_state()
            assert page.title().startswith("Error: ")
            expect(page.locator("#form-errors")).to_be_focused()
            first = page.locator("#form-errors a").first
            target = first.get_attribute("href")[1:]
            first.click()
            assert page.evaluate("document.activeElement.id") == target
            page.keyboard.type("x")           # the focused field takes what is typed
            assert page.locator(f"#{target}").input_value() == "x"
        assert errors == []
        context.close()
    finally:
        server.shutdown()
