"""Per-organisation facts the procurement layer needs, copied from staging into the register file: finances by
year, filing health and classifications. The published register is self-contained because staging is
detached after the build.

Reads `_org_member` (record_id, org_id, source, member_rank: 0 = canonical) made by build.py.
"""

from __future__ import annotations

import duckdb

MEMBERS = "_org_member"


def _charity_members(alias: str = "m") -> str:
    return f"""(SELECT org_id, member_rank,
                   CAST(split_part(record_id, ':', 2) AS BIGINT) AS organisation_number
            FROM {MEMBERS} WHERE source = 'charity_commission') {alias}"""


def add_finance(con: duckdb.DuckDBPyConnection, area_code: str) -> int:
    con.execute(f"""
        INSERT INTO organisation_finance
        WITH pa AS (
            SELECT organisation_number, fin_period_end_date,
                   max(income_from_government_contracts) AS gov_contracts,
                   max(income_from_government_grants) AS gov_grants,
                   max(count_volunteers) AS volunteers
            FROM charity_commission.charity_annual_return_parta GROUP BY ALL
        ), pb AS (
            SELECT organisation_number, fin_period_end_date, max(count_employees) AS employees
            FROM charity_commission.charity_annual_return_partb GROUP BY ALL
        ), years AS (
            SELECT m.org_id, h.organisation_number, CAST(h.fin_period_end_date AS DATE) AS fye,
                   max(h.total_gross_income) AS income, max(h.total_gross_expenditure) AS expenditure,
                   max(CAST(h.reporting_due_date AS DATE)) AS due,
                   min(CAST(coalesce(h.date_annual_return_received, h.date_accounts_received) AS DATE)) AS received
            FROM {_charity_members()}
            JOIN charity_commission.charity_annual_return_history h USING (organisation_number)
            WHERE h.fin_period_end_date IS NOT NULL
            GROUP BY ALL
        )
        SELECT $area, y.org_id, 'charity_commission', y.fye, y.income, y.expenditure,
               pa.gov_contracts, pa.gov_grants, pb.employees, pa.volunteers, y.due, y.received,
               CASE WHEN y.due IS NULL THEN NULL
                    ELSE coalesce(y.received, current_date) > y.due END
        FROM years y
        LEFT JOIN pa ON pa.organisation_number = y.organisation_number
                    AND CAST(pa.fin_period_end_date AS DATE) = y.fye
        LEFT JOIN pb ON pb.organisation_number = y.organisation_number
                    AND CAST(pb.fin_period_end_date AS DATE) = y.fye
        ORDER BY y.org_id, y.fye, y.organisation_number
    """, {"area": area_code})
    return _count(con, "organisation_finance", area_code)


def add_filing(con: duckdb.DuckDBPyConnection, area_code: str) -> int:
    con.execute(f"""
        INSERT INTO organisation_filing
        WITH ch AS (
            SELECT m.org_id, arg_min(c.charity_insolvent, m.member_rank) AS insolvent,
                   arg_min(c.charity_in_administration, m.member_rank) AS in_administration,
                   arg_min(c.charity_reporting_status, m.member_rank) AS reporting_status
            FROM {_charity_members()}
            JOIN charity_commission.charity c USING (organisation_number)
            GROUP BY m.org_id
        ), co AS (
            SELECT m.org_id, arg_min(c.company_status, m.member_rank) AS status,
                   arg_min(CAST(c.accounts_next_due_date AS DATE), m.member_rank) AS accounts_due,
                   arg_min(CAST(c.conf_stmt_next_due_date AS DATE), m.member_rank) AS conf_due,
                   bool_or(c.dissolution_date IS NULL) AS live
            FROM {MEMBERS} m
            JOIN companies_house.company c ON m.record_id = 'companies_house:' || c.company_number
            GROUP BY m.org_id
        ), started AS (
            SELECT m.org_id, min(s.date_registered) AS first_date
            FROM {MEMBERS} m JOIN source_record s ON s.area_code = $area AND s.record_id = m.record_id
            GROUP BY m.org_id
        )
        SELECT $area, o.org_id, ch.insolvent, ch.in_administration, ch.reporting_status,
               co.status, co.accounts_due, co.live AND co.accounts_due < current_date,
               co.conf_due, co.live AND co.conf_due < current_date,
               CAST(date_diff('year', started.first_date, current_date)
                    - CASE WHEN strftime(current_date, '%m%d') < strftime(started.first_date, '%m%d')
                           THEN 1 ELSE 0 END AS INTEGER)
        FROM (SELECT DISTINCT org_id FROM {MEMBERS}) o
        LEFT JOIN ch USING (org_id) LEFT JOIN co USING (org_id) LEFT JOIN started USING (org_id)
        ORDER BY o.org_id
    """, {"area": area_code})
    return _count(con, "organisation_filing", area_code)


def add_classification(con: duckdb.DuckDBPyConnection, area_code: str) -> int:
    con.execute(f"""
        INSERT INTO organisation_classification
        SELECT DISTINCT $area, m.org_id, 'ccew_' || lower(c.classification_type),
               CAST(c.classification_code AS VARCHAR), c.classification_description
        FROM {_charity_members()}
        JOIN charity_commission.charity_classification c USING (organisation_number)
        WHERE c.classification_code IS NOT NULL AND lower(c.classification_type) IN ('what', 'who', 'how')
        UNION
        SELECT $area, m.org_id, 'sic', s.sic_code, s.sic_description
        FROM {MEMBERS} m JOIN companies_house.company_sic s ON m.record_id = 'companies_house:' || s.company_number
        WHERE s.sic_code IS NOT NULL
        UNION
        SELECT $area, m.org_id, 'fca_sic', CAST(s.sic_code AS VARCHAR), NULL
        FROM {MEMBERS} m JOIN fca_mutuals.society s ON m.record_id = 'fca_mutuals:' || s.registration_number
        WHERE s.sic_code IS NOT NULL
        ORDER BY ALL
    """, {"area": area_code})
    return _count(con, "organisation_classification", area_code)


def _count(con: duckdb.DuckDBPyConnection, table: str, area_code: str) -> int:
    return con.execute(f"SELECT count(*) FROM {table} WHERE area_code = ?", [area_code]).fetchall()[0][0]


def enrich(con: duckdb.DuckDBPyConnection, area_code: str) -> dict[str, int]:
    return {"finance_rows": add_finance(con, area_code), "filing_rows": add_filing(con, area_code),
            "classification_rows": add_classification(con, area_code)}
