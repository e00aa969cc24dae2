-- Area selection: the VCSE records in each area, by postcode (the postcode directory's local authority, live or
-- terminated), by the Charity Commission's area of operation, or both, for many areas at once, as the temp table
-- _areas_membership (area_code, record_id, in_area_by_postcode, in_area_by_operation, operation_areas).
-- register/area.py runs it for every area into the national state, or for one area, and registers
-- _operation_codes_df (area_code, gss: the area, its parents, the nation when counted; one row per area has gss =
-- the area itself) and _aoo_lookup_df (reference/ccew-area-of-operation-gss.csv: area description -> GSS code).
CREATE OR REPLACE TEMP TABLE _areas_membership AS
WITH by_operation AS (
    SELECT c.area_code, 'charity_commission:' || a.organisation_number AS record_id,
           string_agg(DISTINCT a.geographic_area_description, '; '
                      ORDER BY a.geographic_area_description) AS operation_areas
    FROM charity_commission.charity_area_of_operation a
    JOIN _aoo_lookup_df l
      -- by name alone: the extract's type labels vary, the local names are unique in the lookup
      ON lower(trim(l.description)) = lower(trim(a.geographic_area_description))
    JOIN _operation_codes_df c ON c.gss = l.gss
    GROUP BY 1, 2
)
, candidates AS (
    SELECT lad_code AS area_code, record_id FROM _register_records
    WHERE lad_code IN (SELECT area_code FROM _operation_codes_df)
    UNION
    SELECT area_code, record_id FROM by_operation
)
, own AS (
    SELECT k.area_code, r.record_id, r.identifier,
           coalesce(r.lad_code = k.area_code, FALSE) AS in_area_by_postcode,
           o.record_id IS NOT NULL AS in_area_by_operation,
           o.operation_areas
    FROM candidates k JOIN _register_records r USING (record_id)
    LEFT JOIN by_operation o ON o.area_code = k.area_code AND o.record_id = k.record_id
    WHERE r.is_vcse
)
SELECT area_code, record_id, in_area_by_postcode, in_area_by_operation, operation_areas FROM own
UNION ALL
-- a linked charity with no area facts of its own belongs wherever its main charity does
SELECT p.area_code, c.record_id, p.in_area_by_postcode, p.in_area_by_operation, p.operation_areas
FROM _register_records c JOIN own p ON c.parent_identifier = p.identifier
WHERE c.is_vcse
  AND NOT EXISTS (SELECT 1 FROM own x WHERE x.area_code = p.area_code AND x.record_id = c.record_id);
