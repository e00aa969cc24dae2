-- Copy the staged facts the published register needs into it, so it works with staging detached: run per area
-- after the area's organisations are built (register/reference_copy.py; parameter area_code). Idempotent: the
-- area's rows go first; postcode_location is shared by the areas and only gains postcodes it lacks.
DELETE FROM area_ward WHERE area_code = {{area_code}};
DELETE FROM organisation_text WHERE area_code = {{area_code}};
