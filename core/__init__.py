"""The bottom package: what every other package shares, and nothing that trains, searches or plots.

The config mechanism (`schema`), the user-error base (`errors`), metric and status names with the rule
that decides a trial's final status (`names`), the experiment file layout (`layout`), storage locations
(`uri`, and `storage`: one `Store` to read, write, list and mirror a local path or URI), atomic writes
(`atomic`), the project's folders (`folders`) and the CLI runner (`cli`). `core` imports no other
project package (tests/test_boundaries.py).
"""
