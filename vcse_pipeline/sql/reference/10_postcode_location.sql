-- Every live postcode of the areas (so `vcse find --near` works from any address in them, a town hall say), plus
-- the postcodes of organisations based outside them that operate in them (from _area_postcode, the directory's rows
-- for the areas' source records: register/area_facts.py). The staged directory is sorted by local authority, so
-- the first part reads the areas' row groups; INSERT OR IGNORE skips postcodes another area added by the table's
-- key, without reading the whole table. It does not keep the ORDER BY: the build sorts the table once at its end
-- (register/reference_copy.order_postcode_location).
INSERT OR IGNORE INTO postcode_location
SELECT postcode, lad_code, ward_code, lat, long FROM (
    SELECT p.postcode, p.lad_code, p.ward_code, p.lat, p.long
    FROM postcodes.postcode p
    WHERE p.lad_code IN (SELECT area_code FROM _write_areas) AND NOT p.is_terminated
    UNION
    SELECT p.postcode, p.lad_code, p.ward_code, p.lat, p.long
    FROM _area_postcode p
    WHERE p.postcode IN (SELECT postcode FROM organisation WHERE area_code IN (SELECT area_code FROM _write_areas))
)
ORDER BY postcode;
