-- Every live postcode of the area (so `vcse find --near` works from any address in it, a town hall say), plus the
-- postcodes of organisations based outside the area that operate in it.
INSERT INTO postcode_location
SELECT DISTINCT p.postcode, p.lad_code, p.ward_code, p.lat, p.long
FROM postcodes.postcode p
WHERE (p.lad_code = {{area_code}} AND NOT p.is_terminated
       OR p.postcode IN (SELECT postcode FROM organisation WHERE area_code = {{area_code}}))
  AND p.postcode NOT IN (SELECT postcode FROM postcode_location)
ORDER BY p.postcode;
