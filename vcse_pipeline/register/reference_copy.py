"""Copy the staged facts the published register needs into it, so it works with staging detached."""

from __future__ import annotations

import duckdb


def copy_area_reference(con: duckdb.DuckDBPyConnection, area_code: str) -> dict[str, int]:
    """Fill postcode_location, area_ward and organisation_text for one area (idempotent)."""
    con.execute("DELETE FROM area_ward WHERE area_code = ?", [area_code])
    con.execute("DELETE FROM organisation_text WHERE area_code = ?", [area_code])
    # Every live postcode of the area (so `vcse find --near` works from any address in it, a town hall
    # say), plus the postcodes of organisations based outside the area that operate in it.
    con.execute("""
        INSERT INTO postcode_location
        SELECT DISTINCT p.postcode, p.lad_code, p.ward_code, p.lat, p.long
        FROM postcodes.postcode p
        WHERE (p.lad_code = ? AND NOT p.is_terminated
               OR p.postcode IN (SELECT postcode FROM organisation WHERE area_code = ?))
          AND p.postcode NOT IN (SELECT postcode FROM postcode_location)
        ORDER BY p.postcode
    """, [area_code, area_code])
    con.execute("""
        INSERT INTO area_ward
        SELECT ?, p.ward_code, any_value(w.ward_name), count(*)
        FROM postcodes.postcode p LEFT JOIN postcodes.ward w USING (ward_code)
        WHERE p.lad_code = ? AND NOT p.is_terminated AND p.ward_code IS NOT NULL
        GROUP BY p.ward_code
        ORDER BY p.ward_code
    """, [area_code, area_code])
    con.execute("""
        INSERT INTO organisation_text
        SELECT i.area_code, i.org_id, i.record_id, c.charity_activities, g.charitable_objects
        FROM organisation_identifier i
        JOIN charity_commission.charity c
          ON i.record_id = 'charity_commission:' || c.organisation_number
        LEFT JOIN charity_commission.charity_governing_document g
          ON g.organisation_number = c.organisation_number
        WHERE i.area_code = ? AND (c.charity_activities IS NOT NULL OR g.charitable_objects IS NOT NULL)
        ORDER BY i.org_id, i.record_id
    """, [area_code])
    return {
        table: con.execute(f"SELECT count(*) FROM {table} WHERE area_code = ?", [area_code]).fetchone()[0]
        for table in ("area_ward", "organisation_text")
    }
