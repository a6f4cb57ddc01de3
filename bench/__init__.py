"""Load benchmark of the live waiting room: ``python -m bench`` (``--quick``, ``--only``).

Figures go to ``bench/results/latest.json`` (``quick.json`` for ``--quick``) and a table is
printed; nothing is asserted. Traffic goes to 127.0.0.1 only, every wait has a deadline,
and every server process started here is stopped at exit. ``tests/test_load.py`` is the
short form that CI runs.

Kept free of imports: ``python -m bench.bare`` must monkey-patch before anything else.
"""
