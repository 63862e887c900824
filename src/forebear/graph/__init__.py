"""Lineage queries: REFs, upstream and downstream closures, diff, show, log, flags, pictures.

Semantics live in pure functions where they can (``diff_lineages``, ``render``); the SQL
that feeds them is portable standard SQL run through the store's ``execute``.
"""
