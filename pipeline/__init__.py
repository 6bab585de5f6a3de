"""The composition root for single-machine modes: every stage wired together in one process.

The service packages never import one another; this package is the one place that does, to run
``mfr replay`` (rebuild an archive from the topics) and ``mfr run`` (the whole pipeline in one
process).
"""
