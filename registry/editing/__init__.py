"""Editing, a web layer of its own: accounts and roles (auth, users), forms (editor), web imports
(webimport), proposals and their moderation (moderation), the change history (history).
One blueprint per module, registered here."""
from . import auth, editor, history, moderation, quality, users, webimport


def init_app(app):
    auth.init_app(app)
    editor.init_app(app)
    for module in (auth, users, editor, history, moderation, webimport, quality):
        app.register_blueprint(module.bp)
    for command in users.COMMANDS:
        app.cli.add_command(command)
