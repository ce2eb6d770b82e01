"""Synthetic data shaped like the FL client MMARs' data (``cte_fl_admin_*``).

Their ``config_train.json`` is the spleen CT task of GettingStarted (one channel, binary
label, ``training`` / ``validation`` keys) read from ``dataset_FLclient.json`` under
``DATA_ROOT``; the data is :func:`corpus.gettingstarted.make_spleen_data`'s under that name.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from corpus.gettingstarted import make_spleen_data

__all__ = ["make_fl_client_data"]


def make_fl_client_data(root: Path) -> Path:
    """The client's datalist, ``root/dataset_FLclient.json`` (2 training, 1 validation case)."""
    datalist = make_spleen_data(root)
    client = root / "dataset_FLclient.json"
    shutil.move(datalist, client)
    return client
