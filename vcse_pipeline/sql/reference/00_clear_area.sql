-- Copy the staged facts the published register needs into it, so it works with staging detached: run for a batch of
-- areas after their organisations are written (register/reference_copy.py; the areas in _write_areas). Idempotent:
-- the areas' rows go first; postcode_location is shared by the areas and only gains postcodes it lacks.
DELETE FROM area_ward WHERE area_code IN (SELECT area_code FROM _write_areas);
DELETE FROM organisation_text WHERE area_code IN (SELECT area_code FROM _write_areas);
