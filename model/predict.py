"""`python -m model.predict` is an alias of `python -m deploy.predict`, where the code lives (shipping is one package).

Kept so that commands and scripts written before the move keep working. It runs the entry by name and
imports nothing, so model/ gains no edge to deploy/ (tests/test_boundaries.py lists it as an alias).
"""
import runpy

if __name__ == "__main__":
    runpy.run_module("deploy.predict", run_name="__main__", alter_sys=True)
