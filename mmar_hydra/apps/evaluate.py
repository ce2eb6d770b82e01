"""``python -m mmar_hydra.apps.evaluate``: medl.apps.evaluate's command line on mmar_hydra."""

from mmar_hydra.apps.clara_args import main_for

if __name__ == "__main__":
    main_for("evaluate")
