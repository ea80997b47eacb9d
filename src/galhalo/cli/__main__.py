"""``python -m galhalo.cli``: the ``galhalo`` command line."""

from . import app

app(prog_name="galhalo")
