-- Area selection: the VCSE records in one area, by postcode (the postcode directory's local authority, live or
-- terminated), by the Charity Commission's area of operation, or both, as the temp table _area_membership
-- (record_id, in_area_by_postcode, in_area_by_operation, operation_areas). register/area.py runs it per area with
-- area_code and operation_codes (the area, its parents, the nation when counted), and registers _aoo_lookup_df
-- (reference/ccew-area-of-operation-gss.csv: area description -> GSS code).
CREATE OR REPLACE TEMP TABLE _area_membership AS
WITH by_operation AS (
    SELECT 'charity_commission:' || a.organisation_number AS record_id,
           string_agg(DISTINCT a.geographic_area_description, '; '
                      ORDER BY a.geographic_area_description) AS operation_areas
    FROM charity_commission.charity_area_of_operation a
    JOIN _aoo_lookup_df l
      -- by name alone: the extract's type labels vary, the local names are unique in the lookup
      ON lower(trim(l.description)) = lower(trim(a.geographic_area_description))
    WHERE list_contains({{operation_codes}}, l.gss)
    GROUP BY 1
)
, own AS (
    SELECT r.record_id, r.identifier,
           coalesce(r.lad_code = {{area_code}}, FALSE) AS in_area_by_postcode,
           o.record_id IS NOT NULL AS in_area_by_operation,
           o.operation_areas
    FROM _register_records r LEFT JOIN by_operation o USING (record_id)
    WHERE r.is_vcse AND (r.lad_code = {{area_code}} OR o.record_id IS NOT NULL)
)
SELECT record_id, in_area_by_postcode, in_area_by_operation, operation_areas FROM own
UNION ALL
-- a linked charity with no area facts of its own belongs wherever its main charity does
SELECT c.record_id, p.in_area_by_postcode, p.in_area_by_operation, p.operation_areas
FROM _register_records c JOIN own p ON c.parent_identifier = p.identifier
WHERE c.is_vcse AND c.record_id NOT IN (SELECT record_id FROM own);
