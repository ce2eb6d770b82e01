"""Hostile input at scale: Hypothesis mutations of real MMARs, checkpoints, data and paths.

``seeds`` builds the MMARs the mutations start from (the sample MMAR, trained and exported on
tiny data, and the public Clara MMARs when ``../shared`` is present); ``jsonmut``,
``payloads`` and ``hostile`` make the hostile inputs; ``families`` draws one case of each
family with Hypothesis; ``oracle`` judges a run; ``campaign`` runs the families in one
process; ``run.py`` is ``make fuzz`` (worker processes, the per-family table).
"""
