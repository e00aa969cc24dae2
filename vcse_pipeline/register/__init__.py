"""Build the register for an area: source records -> area and VCSE selection -> links -> organisations.

The entry points are `build.build_area(con, cfg, area_code)` and `build.build_areas` (a batch of areas written
together); each step lives in its own module.
"""
