-- Postcode keys: the register's join key to the ONS Postcode Directory and its display form.
-- Build-time helpers: TEMP macros, created on every connection that stages or builds (db.register_macros).

-- 'ch41 1ab', 'CH41-1AB' -> 'CH411AB'; NULL unless shaped like a UK postcode.
CREATE OR REPLACE TEMP MACRO postcode_key(pc) AS (
    CASE WHEN regexp_full_match(upper(regexp_replace(coalesce(pc, ''), '[^A-Za-z0-9]', '', 'g')),
                                '[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}')
         THEN upper(regexp_replace(pc, '[^A-Za-z0-9]', '', 'g')) END
);

-- 'ch411ab' -> 'CH41 1AB': the outward code, a space, the 3-character inward code.
CREATE OR REPLACE TEMP MACRO normalise_postcode(pc) AS (
    CASE WHEN postcode_key(pc) IS NOT NULL
         THEN left(postcode_key(pc), length(postcode_key(pc)) - 3) || ' ' || right(postcode_key(pc), 3) END
);
