"""Build the register for an area: source records -> area and VCSE selection -> links -> organisations.

The entry point is `build.build_area(con, cfg, area_code)`; each step lives in its own module.
"""
