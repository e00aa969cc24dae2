-- Every live postcode of the area (so `vcse find --near` works from any address in it, a town hall say), plus the
-- postcodes of organisations based outside the area that operate in it (from _area_postcode, the directory's rows
-- for the area's source records: register/area_facts.py). The staged directory is sorted by local authority, so
-- the first part reads a few row groups; INSERT OR IGNORE skips postcodes another area added by the table's key,
-- without reading the whole table. It does not keep the ORDER BY: the build sorts the table once at its end
-- (register/reference_copy.order_postcode_location).
INSERT OR IGNORE INTO postcode_location
SELECT postcode, lad_code, ward_code, lat, long FROM (
    SELECT p.postcode, p.lad_code, p.ward_code, p.lat, p.long
    FROM postcodes.postcode p
    WHERE p.lad_code = {{area_code}} AND NOT p.is_terminated
    UNION
    SELECT p.postcode, p.lad_code, p.ward_code, p.lat, p.long
    FROM _area_postcode p
    WHERE p.postcode IN (SELECT postcode FROM organisation WHERE area_code = {{area_code}})
)
ORDER BY postcode;
