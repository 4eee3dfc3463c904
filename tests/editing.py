"""Helpers for the editing tests (test_auth, test_editor, test_browser_editor): accounts, CSRF tokens,
and a small reader of HTML forms so tests submit what a browser would submit."""
import re
from html.parser import HTMLParser

from werkzeug.security import generate_password_hash

from registry.store import editing as editing_db
from registry.store import db as storage
PASSWORD = "a long enough test password"
TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def add_user(app, username, role, password=PASSWORD, must_change=False):
    db = storage.connect(app.config["DATABASE"])
    storage.migrate(db)
    try:
        return editing_db.create_user(db, username, generate_password_hash(password), role, "test",
                                   must_change_password=must_change)
    finally:
        db.conn.close()


def csrf_token(client, url="/login"):
    response = client.get(url)
    match = TOKEN_RE.search(response.get_data(as_text=True))
    assert match, f"no csrf_token on {url} ({response.status_code})"
    return match.group(1)


def login(client, username, password=PASSWORD, next_url=None):
    data = {"csrf_token": csrf_token(client), "username": username, "password": password}
    if next_url is not None:
        data["next"] = next_url
    return client.post("/login", data=data)


def logged_in(app, username, role):
    """A test client logged in as a new user with `role`."""
    add_user(app, username, role)
    client = app.test_client()
    response = login(client, username)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


class _Forms(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms, self._select, self._textarea = [], None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action"), "method": (a.get("method") or "get").lower(),
                               "fields": [], "attrs": a})
        elif not self.forms:
            return
        elif tag == "input" and a.get("name"):
            kind = (a.get("type") or "text").lower()
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if kind not in ("submit", "button", "file", "image", "reset"):
                self.forms[-1]["fields"].append([a["name"], a.get("value") or ("on" if kind == "checkbox" else "")])
        elif tag == "select" and a.get("name"):
            self._select = {"name": a["name"], "options": [], "selected": None}
        elif tag == "option" and self._select is not None:
            self._select["options"].append(a.get("value", ""))
            if "selected" in a:
                self._select["selected"] = a.get("value", "")
        elif tag == "textarea" and a.get("name"):
            self._textarea = [a["name"], ""]
            self.forms[-1]["fields"].append(self._textarea)

    def handle_endtag(self, tag):
        if tag == "select" and self._select is not None:
            s = self._select
            chosen = s["selected"] if s["selected"] is not None else (s["options"][0] if s["options"] else "")
            self.forms[-1]["fields"].append([s["name"], chosen])
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1] += data


def read_form(html, has_field="version"):
    """The first form holding a field named `has_field`, as a list of [name, value] pairs (what a browser
    would send without changes). Change values with set_field, then post the list."""
    parser = _Forms()
    parser.feed(html)
    for form in parser.forms:
        if any(name == has_field for name, _ in form["fields"]):
            return form["fields"]
    raise AssertionError(f"no form with a field {has_field!r}")


def set_field(fields, name, value):
    for pair in fields:
        if pair[0] == name:
            pair[1] = value
            return fields
    fields.append([name, value])
    return fields


def field(fields, name):
    return next(value for key, value in fields if key == name)


def post_form(client, url, fields):
    from werkzeug.datastructures import MultiDict
    return client.post(url, data=MultiDict([tuple(p) for p in fields]))
