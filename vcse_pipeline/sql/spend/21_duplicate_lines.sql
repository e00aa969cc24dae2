-- Lines of the files just loaded ($sources) that repeat another loaded line: the same date, amount, supplier and
-- reference (spend/load.duplicate_lines). Reported, not dropped: the same payment can be made twice.
WITH keyed AS (
    SELECT file, source, sheet, row_number, payment_date, amount, supplier_name, transaction_ref,
           count(*) OVER same AS copies, bool_or(list_contains($sources, source)) OVER same AS touched
    FROM spend_line
    WINDOW same AS (PARTITION BY payment_date, amount, supplier_name, transaction_ref))
SELECT payment_date, amount, supplier_name, transaction_ref, count(*) AS lines,
       string_agg(file || coalesce(' sheet ' || sheet, '') || ' row ' || row_number, '; '
                  ORDER BY file, source, sheet, row_number) AS places
FROM keyed
WHERE copies > 1 AND touched
GROUP BY payment_date, amount, supplier_name, transaction_ref
ORDER BY payment_date, supplier_name, amount;
