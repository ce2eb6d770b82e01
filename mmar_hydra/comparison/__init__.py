"""Comparing experiment variants case by case (``task=compare``): per-case results of each
variant (eval CSVs, CV out-of-fold predictions), paired statistics against a baseline, and
the self-contained HTML report. It reads run folders (``runs``) and CV folders (``cv``)."""
