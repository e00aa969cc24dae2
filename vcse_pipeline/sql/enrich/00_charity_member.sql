-- Per-organisation facts the procurement layer needs, copied from staging into the register file (finances by
-- year, filing health, classifications): the published register is self-contained because staging is detached
-- after the build. Run for a batch of areas after their organisation tables are written (register/enrich.py);
-- parameter: as_of. Reads _org_member (area_code, record_id, org_id, source, member_rank: 0 = canonical) and
-- _write_areas (area_code, n: build order) made by register/build.py, and the areas' staged rows (_area_<fact>:
-- register/area_facts.py), not the national staging tables. Every join keeps to an area's own rows.

-- The charity members of each organisation by the extract's organisation_number.
CREATE OR REPLACE TEMP VIEW _charity_member AS
SELECT area_code, org_id, member_rank, CAST(split_part(record_id, ':', 2) AS BIGINT) AS organisation_number
FROM _org_member WHERE source = 'charity_commission';
