"""``python -m mmar_hydra.apps.export``: medl.apps.export's command line on mmar_hydra."""

from mmar_hydra.apps.clara_args import main_for

if __name__ == "__main__":
    main_for("export")
