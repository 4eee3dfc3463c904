"""Editing, a web layer of its own: accounts and roles, forms, web imports, proposals and their
moderation, the change history. One blueprint per module, registered here."""
from . import auth, editor


def init_app(app):
    auth.init_app(app)
    editor.init_app(app)
