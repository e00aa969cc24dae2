-- Active providers of the area by income band, smallest band first, unknown income last.
SELECT income_band, count(*) FROM provider_readiness WHERE area_code = $area_code GROUP BY 1
ORDER BY CASE income_band WHEN 'under £10k' THEN 1 WHEN '£10k-£100k' THEN 2 WHEN '£100k-£1m' THEN 3
         WHEN 'over £1m' THEN 4 ELSE 5 END
