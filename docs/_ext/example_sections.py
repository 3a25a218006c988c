"""Griffe extension for the docs build: kdc's ``Example:`` sections render as code examples.

kdc's Google-style docstrings title their doctest section ``Example:``.
Griffe's Google parser knows only the plural ``Examples:``
as an examples section and would render the singular as an admonition whose
``>>>`` lines become nested quotes. This extension renames the section
title before the docstring is parsed; the docstrings themselves stay as
they are.
"""

import re

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)


class ExampleSections(griffe.Extension):
    """Read a docstring's ``Example:`` section as ``Examples:``."""

    def on_object(self, *, obj, **kwargs):
        docstring = obj.docstring
        if docstring is not None and "Example:" in docstring.value:
            docstring.value = _EXAMPLE.sub(r"\1Examples:", docstring.value)
