"""``python -m galhalo``: the ``galhalo`` command line."""

from .cli import app

app(prog_name="galhalo")
