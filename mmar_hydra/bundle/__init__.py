"""MMAR -> MONAI bundle: metadata, config translation, model card and conversion report.

``task=bundle`` (``mmar_hydra.tasks.bundle``) drives it. Modules, one job each:
``data_format`` (the network's inputs and outputs, derived from the MMAR), ``metadata``
(``configs/metadata.json``), ``values`` (Clara values -> bundle syntax), ``components``
(Clara sections -> bundle sections), ``configs`` (train / evaluate / inference /
multi_gpu_train / logging), ``model_card`` (``docs/README.md``), ``report``
(``conversion_report.md``) and ``writer`` (the bundle folder, written all or nothing).
"""
