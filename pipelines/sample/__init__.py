"""The synthetic sample county: a Shouguang-like delivery in the data-contract format.

``county.generate_county`` writes it; ``profiles`` holds the counties it can write
(Shouguang 370783 by default, Changle 370725); ``geography`` lays out towns, villages, grids
and facilities, ``people`` the residents, households and teams, ``events`` the care history
and claims, ``dirty`` the injected bad rows and files, ``common`` what they share.
"""
