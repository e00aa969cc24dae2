-- Every file in the spend database with what it adds to the measures (spend/load.loaded_files; `vcse spend` lists
-- them so the figures reconcile to files).
SELECT f.file, f.source, f.layout, f.line_count AS lines, coalesce(l.amount, 0) AS amount,
       coalesce(l.credits, 0) AS credits, f.loaded_at
FROM spend_file f
LEFT JOIN (SELECT source, sum(amount) AS amount, count(*) FILTER (WHERE is_credit) AS credits
           FROM spend_line GROUP BY source) l USING (source)
ORDER BY f.file, f.source;
