"""Ingestion of a county delivery: read, validate, place, load (``docs/data-contract.md``).

``delivery.ingest_delivery`` is the entry; ``read`` finds and reads the files, ``schema``
holds the contract's column specs, ``validate`` checks rows and quarantines the bad ones
with a reason code, ``settings`` is the ingestion's section of the settings.
"""
