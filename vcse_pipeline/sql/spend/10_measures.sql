-- Local spend measures over spend_line and supplier_resolution (vcse_pipeline/spend/measures.py runs this after
-- every resolution). A line is "in scope" unless its supplier's kind is one of spend_setting.excluded_kinds
-- (public bodies and individuals by default: transfers and personal payments are not procurement). A supplier is
-- local under a definition when its resolved location (registered office postcode) is in the definition's local
-- authorities (scheme 'lad') or regions (scheme 'region'); unresolved and redacted suppliers are never local.
-- Declared tier-2 spend (spend_tier2) is added to the district's only where it can be true: see spend_tier2_check.
-- Suppliers are counted and ranked as organisations: the supplier keys (ids, spellings) resolved to one org-id are
-- one supplier (organisation_key); a supplier with no org-id is its supplier key.

CREATE OR REPLACE VIEW spend_line_scope AS
SELECT l.*, coalesce(r.kind, 'unknown') AS supplier_kind, coalesce(r.size_class, 'unresolved') AS size_class,
       r.org_id, r.status AS resolution_status,
       CASE WHEN r.status = 'resolved' AND r.org_id IS NOT NULL THEN r.org_id ELSE l.supplier_key END
           AS organisation_key,
       r.lad_code, r.region_code, r.ward_code, r.ward_name, r.imd_decile,
       NOT coalesce(list_contains(s.excluded_kinds, r.kind), FALSE) AS in_scope,
       spend_financial_year(l.payment_date) AS financial_year,
       spend_financial_year(l.payment_date) || ' Q'
           || CAST(((month(l.payment_date) + 8) % 12) // 3 + 1 AS VARCHAR) AS quarter,
       strftime(l.payment_date, '%Y-%m') AS month
FROM spend_line l
LEFT JOIN supplier_resolution r USING (supplier_key)
CROSS JOIN spend_setting s;

CREATE OR REPLACE VIEW spend_supplier_local AS
SELECT r.supplier_key, d.definition, d.label,
       r.status = 'resolved' AND EXISTS (
           SELECT 1 FROM spend_definition x
           WHERE x.definition = d.definition
             AND ((x.scheme = 'lad' AND x.code = r.lad_code) OR (x.scheme = 'region' AND x.code = r.region_code))
       ) AS is_local
FROM supplier_resolution r
CROSS JOIN (SELECT DISTINCT definition, label FROM spend_definition) d;

-- Each declared tier-2 row (a supplier's own spend with district subcontractors) and what of it counts. A row counts
-- only for a financial year of the loaded payments, for a supplier the council paid (in scope) that year and that is
-- not local already (its whole spend counts then), up to that supplier's in-scope spend that year (several rows of
-- one supplier and year share the cap, in file order). The supplier is named by the council's supplier id, a name it
-- is written as (the name key) or its org-id; spellings resolved to one organisation are one supplier.
CREATE OR REPLACE VIEW spend_tier2_check AS
WITH supplier AS (   -- each supplier key, its organisation and its name keys
    SELECT supplier_key, any_value(organisation_key) AS organisation,
           any_value(org_id) FILTER (WHERE resolution_status = 'resolved') AS org_id,
           list(DISTINCT spend_name_key(supplier_name)) AS name_keys
    FROM spend_line_scope GROUP BY supplier_key),
declared AS (
    SELECT *, regexp_replace(trim(financial_year), '^(\d{4})\s*[-/]\s*(?:\d{2})?(\d{2})$', '\1-\2') AS year
    FROM spend_tier2),
matched AS (
    SELECT t.file, t.row_number, list(DISTINCT s.organisation ORDER BY s.organisation) AS organisations,
           any_value(s.org_id) AS org_id
    FROM declared t JOIN supplier s
      ON s.supplier_key IN ('id:' || spend_supplier_id(t.supplier), 'name:' || spend_name_key(t.supplier))
      OR list_contains(s.name_keys, spend_name_key(t.supplier))
      OR s.org_id = upper(trim(t.supplier))
    GROUP BY t.file, t.row_number),
paid AS (            -- each organisation's in-scope spend per financial year, and whether it is in the district
    SELECT s.organisation, l.financial_year, sum(l.amount) FILTER (WHERE l.in_scope) AS scope_amount,
           bool_or(d.is_local) AS is_local
    FROM spend_line_scope l JOIN supplier s USING (supplier_key)
    JOIN spend_supplier_local d ON d.supplier_key = l.supplier_key AND d.definition = 'district'
    GROUP BY ALL),
checked AS (
    SELECT t.supplier, t.financial_year, t.local_amount, t.file, t.row_number, m.org_id,
           m.organisations[1] AS organisation, t.year, p.scope_amount AS supplier_scope_amount,
           CASE WHEN t.year IS NULL OR t.year NOT IN (SELECT financial_year FROM spend_line_scope
                                                       WHERE financial_year IS NOT NULL)
                    THEN 'no payments loaded for that financial year'
                WHEN m.organisations IS NULL THEN 'no supplier of that id or name in the payments'
                WHEN len(m.organisations) > 1 THEN 'names more than one supplier in the payments'
                WHEN p.organisation IS NULL THEN 'the supplier was not paid in that financial year'
                WHEN p.scope_amount IS NULL THEN 'the supplier''s kind is left out of the measured spend'
                WHEN p.is_local THEN 'the supplier is local already: all its spend counts'
                WHEN p.scope_amount <= 0 THEN 'no spend with the supplier in that financial year, net of credits'
                WHEN t.local_amount <= 0 THEN 'not a positive amount'
           END AS ignored_because
    FROM declared t
    LEFT JOIN matched m USING (file, row_number)
    LEFT JOIN paid p ON p.organisation = m.organisations[1] AND p.financial_year = t.year AND len(m.organisations) = 1),
counted AS (
    SELECT *, CASE WHEN ignored_because IS NULL THEN least(local_amount, greatest(supplier_scope_amount - coalesce(
                  sum(local_amount) OVER (PARTITION BY organisation, year, ignored_because IS NULL
                                          ORDER BY file, row_number
                                          ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0), 0))
                   ELSE 0 END AS counted_amount
    FROM checked)
SELECT supplier, financial_year, local_amount, counted_amount,
       CASE WHEN ignored_because IS NOT NULL OR counted_amount = 0 THEN 'ignored'
            WHEN counted_amount < local_amount THEN 'capped' ELSE 'counted' END AS status,
       coalesce(ignored_because, CASE WHEN counted_amount < local_amount
                                      THEN 'more than the supplier''s in-scope spend that financial year' END)
           AS reason,
       year AS counted_in_year, org_id, supplier_scope_amount, file, row_number
FROM counted
ORDER BY file, row_number;

CREATE OR REPLACE VIEW spend_local_share AS
WITH per_definition AS (
    SELECT d.definition, d.label, sum(l.amount) AS scope_amount,
           coalesce(sum(l.amount) FILTER (WHERE d.is_local), 0) AS local_amount,
           count(DISTINCT l.organisation_key) AS suppliers,
           count(DISTINCT l.organisation_key) FILTER (WHERE d.is_local) AS local_suppliers
    FROM spend_line_scope l JOIN spend_supplier_local d USING (supplier_key)
    WHERE l.in_scope
    GROUP BY d.definition, d.label),
tier2 AS (SELECT coalesce(sum(counted_amount), 0) AS amount FROM spend_tier2_check),
rows AS (
    SELECT * FROM per_definition
    UNION ALL   -- the district with the suppliers' declared local subcontracting added (tier 2)
    SELECT 'district_tier2', p.label || ', with declared tier-2 spend', p.scope_amount,
           p.local_amount + t.amount, p.suppliers, p.local_suppliers
    FROM per_definition p, tier2 t WHERE p.definition = 'district')
SELECT definition, label, scope_amount, local_amount,
       round(CAST(local_amount AS DOUBLE) / nullif(scope_amount, 0), 4) AS local_share,
       (SELECT target_share FROM spend_setting) AS target_share, suppliers, local_suppliers
FROM rows
ORDER BY CASE definition WHEN 'district' THEN 1 WHEN 'wider_area' THEN 2 WHEN 'region' THEN 3 ELSE 4 END;

CREATE OR REPLACE VIEW spend_share_by_period AS
WITH periods AS (
    SELECT 'month' AS period_type, month AS period, * EXCLUDE (month, quarter, financial_year) FROM spend_line_scope
    UNION ALL
    SELECT 'quarter', quarter, * EXCLUDE (month, quarter, financial_year) FROM spend_line_scope
    UNION ALL
    SELECT 'financial_year', financial_year, * EXCLUDE (month, quarter, financial_year) FROM spend_line_scope),
per_definition AS (
    SELECT p.period_type, p.period, d.definition, sum(p.amount) AS scope_amount,
           coalesce(sum(p.amount) FILTER (WHERE d.is_local), 0) AS local_amount
    FROM periods p JOIN spend_supplier_local d USING (supplier_key)
    WHERE p.in_scope AND p.period IS NOT NULL
    GROUP BY ALL),
tier2 AS (SELECT counted_in_year AS period, sum(counted_amount) AS amount FROM spend_tier2_check GROUP BY 1),
rows AS (
    SELECT * FROM per_definition
    UNION ALL   -- declared tier-2 spend is by financial year, so the with-tier-2 figure is too
    SELECT p.period_type, p.period, 'district_tier2', p.scope_amount, p.local_amount + coalesce(t.amount, 0)
    FROM per_definition p LEFT JOIN tier2 t USING (period)
    WHERE p.period_type = 'financial_year' AND p.definition = 'district')
SELECT period_type, period, definition, scope_amount, local_amount,
       round(CAST(local_amount AS DOUBLE) / nullif(scope_amount, 0), 4) AS local_share,
       (SELECT target_share FROM spend_setting) AS target_share
FROM rows
ORDER BY period_type, period, definition;

CREATE OR REPLACE VIEW spend_by_size_class AS
SELECT size_class, sum(amount) AS amount,
       round(CAST(sum(amount) AS DOUBLE) / nullif(sum(sum(amount)) OVER (), 0), 4) AS share,
       count(DISTINCT organisation_key) AS suppliers, count(*) AS line_count
FROM spend_line_scope GROUP BY size_class ORDER BY amount DESC;

CREATE OR REPLACE VIEW spend_by_expense_area AS
SELECT coalesce(l.expense_area, '(not given)') AS expense_area, sum(l.amount) AS amount,
       coalesce(sum(l.amount) FILTER (WHERE d.is_local), 0) AS local_amount,
       round(CAST(coalesce(sum(l.amount) FILTER (WHERE d.is_local), 0) AS DOUBLE) / nullif(sum(l.amount), 0), 4)
           AS local_share,
       coalesce(sum(l.amount) FILTER (WHERE l.size_class = 'VCSE'), 0) AS vcse_amount,
       count(DISTINCT l.organisation_key) AS suppliers
FROM spend_line_scope l JOIN spend_supplier_local d ON d.supplier_key = l.supplier_key AND d.definition = 'district'
WHERE l.in_scope
GROUP BY 1 ORDER BY amount DESC;

CREATE OR REPLACE VIEW spend_by_ward AS
SELECT l.ward_code, any_value(l.ward_name) AS ward_name, any_value(l.imd_decile) AS imd_decile,
       sum(l.amount) AS amount, count(DISTINCT l.organisation_key) AS suppliers
FROM spend_line_scope l JOIN spend_supplier_local d ON d.supplier_key = l.supplier_key AND d.definition = 'district'
WHERE l.in_scope AND d.is_local
GROUP BY l.ward_code ORDER BY amount DESC;

CREATE OR REPLACE VIEW spend_by_deprivation AS
SELECT l.imd_decile, sum(l.amount) AS amount, count(DISTINCT l.organisation_key) AS suppliers
FROM spend_line_scope l JOIN spend_supplier_local d ON d.supplier_key = l.supplier_key AND d.definition = 'district'
WHERE l.in_scope AND d.is_local
GROUP BY l.imd_decile ORDER BY l.imd_decile NULLS LAST;

CREATE OR REPLACE VIEW spend_top_suppliers AS   -- the CLES view: where the biggest suppliers are based
WITH by_key AS (
    SELECT supplier_key, any_value(organisation_key) AS organisation_key, sum(amount) AS amount,
           count(*) AS line_count
    FROM spend_line_scope GROUP BY supplier_key),
totals AS (   -- one row per organisation; its biggest supplier key (id or spelling) speaks for it
    SELECT k.organisation_key, first(k.supplier_key ORDER BY k.amount DESC, k.supplier_key) AS supplier_key,
           sum(k.amount) AS amount, CAST(sum(k.line_count) AS BIGINT) AS line_count
    FROM by_key k GROUP BY k.organisation_key),
names AS (
    SELECT organisation_key, string_agg(DISTINCT supplier_name, '; ' ORDER BY supplier_name) AS names_written
    FROM spend_line_scope GROUP BY organisation_key),
based AS (
    SELECT k.organisation_key,
           CASE WHEN bool_or(d.is_local) FILTER (WHERE d.definition = 'district') THEN 'district'
                WHEN bool_or(d.is_local) FILTER (WHERE d.definition = 'wider_area') THEN 'wider area'
                WHEN bool_or(d.is_local) FILTER (WHERE d.definition = 'region') THEN 'region'
                ELSE NULL END AS based
    FROM spend_supplier_local d JOIN by_key k USING (supplier_key) GROUP BY k.organisation_key)
SELECT row_number() OVER (ORDER BY t.amount DESC, r.supplier_name) AS rank, r.supplier_name, r.org_id,
       r.matched_name, r.kind, r.size_class, r.postcode, r.lad_code, r.ward_name,
       coalesce(b.based, CASE WHEN r.lad_code IS NOT NULL THEN 'elsewhere' ELSE 'not known' END) AS based,
       t.amount, round(CAST(t.amount AS DOUBLE) / nullif(sum(t.amount) OVER (), 0), 4) AS share_of_total,
       t.line_count, r.method, r.status, n.names_written
FROM totals t JOIN supplier_resolution r USING (supplier_key) LEFT JOIN based b USING (organisation_key)
LEFT JOIN names n USING (organisation_key)
QUALIFY rank <= (SELECT top_suppliers FROM spend_setting)
ORDER BY rank;

-- Resolved, needs review, unresolved and redacted each count a line once, so they add up to all £: a redacted payee
-- (a redaction in the file, or a supplier the overrides file marks redacted) is resolved to a kind, not to a
-- supplier, and counts as redacted only. Resolved without a location is part of resolved.
CREATE OR REPLACE VIEW spend_coverage AS
WITH lines AS (
    SELECT l.amount, r.status, r.kind, r.lad_code, l.is_redacted OR r.kind = 'redacted' AS redacted
    FROM spend_line l JOIN supplier_resolution r USING (supplier_key)),
total AS (SELECT sum(amount) AS amount FROM lines),
measures AS (
    SELECT 1 AS position, 'resolved' AS measure,
           sum(amount) FILTER (WHERE status = 'resolved' AND NOT redacted) AS amount FROM lines
    UNION ALL SELECT 2, 'needs review', sum(amount) FILTER (WHERE status = 'review' AND NOT redacted) FROM lines
    UNION ALL SELECT 3, 'unresolved', sum(amount) FILTER (WHERE status = 'unresolved' AND NOT redacted) FROM lines
    UNION ALL SELECT 4, 'redacted', sum(amount) FILTER (WHERE redacted) FROM lines
    UNION ALL SELECT 5, 'resolved without a location', sum(amount) FILTER (
        WHERE status = 'resolved' AND NOT redacted AND lad_code IS NULL
          AND kind NOT IN ('public body', 'individual', 'redacted'))
        FROM lines)
SELECT measure, coalesce(m.amount, 0) AS amount,
       round(CAST(coalesce(m.amount, 0) AS DOUBLE) / nullif(t.amount, 0), 4) AS share
FROM measures m, total t
ORDER BY m.position;

CREATE OR REPLACE VIEW spend_review AS   -- what needs a person's decision, biggest first
SELECT s.supplier_name, s.supplier_id, r.status, r.method, r.org_id AS candidate_org_id,
       r.matched_name AS candidate_name, r.score, s.total_amount AS amount, s.line_count, r.evidence
FROM spend_supplier s JOIN supplier_resolution r USING (supplier_key)
WHERE r.status <> 'resolved'
ORDER BY s.total_amount DESC, s.supplier_name;
