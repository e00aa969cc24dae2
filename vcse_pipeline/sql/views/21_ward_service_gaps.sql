-- ward_service_gaps: ward and service area pairs with fewer than 2 providers BASED in the ward, for the service
-- areas councils commission locally (ward_service_coverage.commissioned_locally). Every ward of the area is
-- included (area_ward), so a ward with no providers at all shows every service as a gap. Providers that only
-- operate area-wide do not close a gap (a commissioner wants a local presence), but their number is shown so a
-- gap that an area-wide provider might reach is visible. ward_service_gaps_below(n) takes any threshold:
-- SELECT * FROM ward_service_gaps_below(3). gap says 'no provider' / 'too few providers' only where the service
-- area is reliably tagged (ward_service_coverage.reliably_tagged), else 'cannot tell', beside the number of the
-- ward's organisations without any service area.
CREATE OR REPLACE MACRO ward_service_gaps_below(min_providers) AS TABLE
    SELECT area_code, ward_code, ward_name, service_area, service_area_label, providers_based,
           providers_area_wide, min_providers AS threshold,
           CASE WHEN NOT reliably_tagged THEN 'cannot tell'
                WHEN providers_based = 0 THEN 'no provider' ELSE 'too few providers' END AS gap,
           organisations_without_service_area
    FROM ward_service_coverage
    WHERE providers_based < min_providers AND commissioned_locally
    ORDER BY area_code, providers_based, ward_name, service_area;

CREATE OR REPLACE VIEW ward_service_gaps AS
SELECT * FROM ward_service_gaps_below(2);
