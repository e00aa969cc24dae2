-- Local spend measures over spend_line and supplier_resolution (vcse_pipeline/spend/measures.py runs this after
-- every resolution). A line is "in scope" unless its supplier's kind is one of spend_setting.excluded_kinds
-- (public bodies and individuals by default: transfers and personal payments are not procurement). A supplier is
-- local under a definition when its resolved location (registered office postcode) is in the definition's local
-- authorities (scheme 'lad') or regions (scheme 'region'); unresolved and redacted suppliers are never local.

CREATE OR REPLACE VIEW spend_line_scope AS
SELECT l.*, coalesce(r.kind, 'unknown') AS supplier_kind, coalesce(r.size_class, 'unresolved') AS size_class,
       r.org_id, r.status AS resolution_status, r.lad_code, r.region_code, r.ward_code, r.ward_name, r.imd_decile,
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

CREATE OR REPLACE VIEW spend_local_share AS
WITH per_definition AS (
    SELECT d.definition, d.label, sum(l.amount) AS scope_amount,
           coalesce(sum(l.amount) FILTER (WHERE d.is_local), 0) AS local_amount,
           count(DISTINCT l.supplier_key) AS suppliers,
           count(DISTINCT l.supplier_key) FILTER (WHERE d.is_local) AS local_suppliers
    FROM spend_line_scope l JOIN spend_supplier_local d USING (supplier_key)
    WHERE l.in_scope
    GROUP BY d.definition, d.label),
tier2 AS (SELECT coalesce(sum(local_amount), 0) AS amount FROM spend_tier2),
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
    SELECT 'financial_year', financial_year, * EXCLUDE (month, quarter, financial_year) FROM spend_line_scope)
SELECT p.period_type, p.period, d.definition, sum(p.amount) AS scope_amount,
       coalesce(sum(p.amount) FILTER (WHERE d.is_local), 0) AS local_amount,
       round(CAST(coalesce(sum(p.amount) FILTER (WHERE d.is_local), 0) AS DOUBLE) / nullif(sum(p.amount), 0), 4)
           AS local_share,
       (SELECT target_share FROM spend_setting) AS target_share
FROM periods p JOIN spend_supplier_local d USING (supplier_key)
WHERE p.in_scope AND p.period IS NOT NULL
GROUP BY ALL
ORDER BY p.period_type, p.period, d.definition;

CREATE OR REPLACE VIEW spend_by_size_class AS
SELECT size_class, sum(amount) AS amount,
       round(CAST(sum(amount) AS DOUBLE) / nullif(sum(sum(amount)) OVER (), 0), 4) AS share,
       count(DISTINCT supplier_key) AS suppliers, count(*) AS line_count
FROM spend_line_scope GROUP BY size_class ORDER BY amount DESC;

CREATE OR REPLACE VIEW spend_by_expense_area AS
SELECT coalesce(l.expense_area, '(not given)') AS expense_area, sum(l.amount) AS amount,
       coalesce(sum(l.amount) FILTER (WHERE d.is_local), 0) AS local_amount,
       round(CAST(coalesce(sum(l.amount) FILTER (WHERE d.is_local), 0) AS DOUBLE) / nullif(sum(l.amount), 0), 4)
           AS local_share,
       coalesce(sum(l.amount) FILTER (WHERE l.size_class = 'VCSE'), 0) AS vcse_amount,
       count(DISTINCT l.supplier_key) AS suppliers
FROM spend_line_scope l JOIN spend_supplier_local d ON d.supplier_key = l.supplier_key AND d.definition = 'district'
WHERE l.in_scope
GROUP BY 1 ORDER BY amount DESC;

CREATE OR REPLACE VIEW spend_by_ward AS
SELECT l.ward_code, any_value(l.ward_name) AS ward_name, any_value(l.imd_decile) AS imd_decile,
       sum(l.amount) AS amount, count(DISTINCT l.supplier_key) AS suppliers
FROM spend_line_scope l JOIN spend_supplier_local d ON d.supplier_key = l.supplier_key AND d.definition = 'district'
WHERE l.in_scope AND d.is_local
GROUP BY l.ward_code ORDER BY amount DESC;

CREATE OR REPLACE VIEW spend_by_deprivation AS
SELECT l.imd_decile, sum(l.amount) AS amount, count(DISTINCT l.supplier_key) AS suppliers
FROM spend_line_scope l JOIN spend_supplier_local d ON d.supplier_key = l.supplier_key AND d.definition = 'district'
WHERE l.in_scope AND d.is_local
GROUP BY l.imd_decile ORDER BY l.imd_decile NULLS LAST;

CREATE OR REPLACE VIEW spend_top_suppliers AS   -- the CLES view: where the biggest suppliers are based
WITH totals AS (
    SELECT supplier_key, sum(amount) AS amount, count(*) AS line_count FROM spend_line GROUP BY supplier_key),
based AS (
    SELECT supplier_key,
           CASE WHEN bool_or(is_local) FILTER (WHERE definition = 'district') THEN 'district'
                WHEN bool_or(is_local) FILTER (WHERE definition = 'wider_area') THEN 'wider area'
                WHEN bool_or(is_local) FILTER (WHERE definition = 'region') THEN 'region'
                ELSE NULL END AS based
    FROM spend_supplier_local GROUP BY supplier_key)
SELECT row_number() OVER (ORDER BY t.amount DESC, r.supplier_name) AS rank, r.supplier_name, r.org_id,
       r.matched_name, r.kind, r.size_class, r.postcode, r.lad_code, r.ward_name,
       coalesce(b.based, CASE WHEN r.lad_code IS NOT NULL THEN 'elsewhere' ELSE 'not known' END) AS based,
       t.amount, round(CAST(t.amount AS DOUBLE) / nullif(sum(t.amount) OVER (), 0), 4) AS share_of_total,
       t.line_count, r.method, r.status
FROM totals t JOIN supplier_resolution r USING (supplier_key) LEFT JOIN based b USING (supplier_key)
QUALIFY rank <= (SELECT top_suppliers FROM spend_setting)
ORDER BY rank;

CREATE OR REPLACE VIEW spend_coverage AS
WITH lines AS (SELECT l.amount, r.status, r.kind, r.lad_code FROM spend_line l JOIN supplier_resolution r USING (supplier_key)),
total AS (SELECT sum(amount) AS amount FROM lines),
measures AS (
    SELECT 'resolved' AS measure, sum(amount) FILTER (WHERE status = 'resolved') AS amount FROM lines
    UNION ALL SELECT 'needs review', sum(amount) FILTER (WHERE status = 'review') FROM lines
    UNION ALL SELECT 'unresolved', sum(amount) FILTER (WHERE status = 'unresolved') FROM lines
    UNION ALL SELECT 'redacted', sum(amount) FILTER (WHERE kind IN ('redacted', 'individual')) FROM lines
    UNION ALL SELECT 'resolved without a location', sum(amount) FILTER (
        WHERE status = 'resolved' AND lad_code IS NULL AND kind NOT IN ('public body', 'individual', 'redacted'))
        FROM lines)
SELECT measure, coalesce(m.amount, 0) AS amount,
       round(CAST(coalesce(m.amount, 0) AS DOUBLE) / nullif(t.amount, 0), 4) AS share
FROM measures m, total t;

CREATE OR REPLACE VIEW spend_review AS   -- what needs a person's decision, biggest first
SELECT s.supplier_name, s.supplier_id, r.status, r.method, r.org_id AS candidate_org_id,
       r.matched_name AS candidate_name, r.score, s.total_amount AS amount, s.line_count, r.evidence
FROM spend_supplier s JOIN supplier_resolution r USING (supplier_key)
WHERE r.status <> 'resolved'
ORDER BY s.total_amount DESC, s.supplier_name;
