-- Per-organisation facts the procurement layer needs, copied from staging into the register file (finances by
-- year, filing health, classifications): the published register is self-contained because staging is detached
-- after the build. Run per area after the organisation tables (register/enrich.py); parameter: area_code.
-- Reads _org_member (record_id, org_id, source, member_rank: 0 = canonical) made by register/build.py, and the
-- area's staged rows (_area_<fact>: register/area_facts.py), not the national staging tables.

-- The charity members of each organisation by the extract's organisation_number.
CREATE OR REPLACE TEMP VIEW _charity_member AS
SELECT org_id, member_rank, CAST(split_part(record_id, ':', 2) AS BIGINT) AS organisation_number
FROM _org_member WHERE source = 'charity_commission';
