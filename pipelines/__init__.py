"""The pipelines: ingest a delivery, build the results, the morning push lists, the sample county.

They read and write the store (:mod:`store`) and compute with the domain (:mod:`geo`);
the service and the command line call them.
"""
