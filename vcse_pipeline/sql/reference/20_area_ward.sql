-- The area's wards with their number of live postcodes.
INSERT INTO area_ward
SELECT {{area_code}}, p.ward_code, any_value(w.ward_name), count(*)
FROM postcodes.postcode p LEFT JOIN postcodes.ward w USING (ward_code)
WHERE p.lad_code = {{area_code}} AND NOT p.is_terminated AND p.ward_code IS NOT NULL
GROUP BY p.ward_code
ORDER BY p.ward_code;
