-- name: time_to_recover_per_region
-- purpose: For each region (from login host names like login-eu-2): the bad hours (at least
-- purpose: 10 failed logins and 5% of attempts), the first and last failure in them, and the
-- purpose: minutes between (in whole seconds), the time that region took to recover.
-- tables: login
WITH attempts AS (
    SELECT
        SPLIT_PART(host, '-', 2) AS region,
        CAST(ts AS DATE) AS day,
        EXTRACT(HOUR FROM ts) AS hour,
        ts,
        -- Seconds since the epoch, whole, from EXTRACT fields: Spark has no EXTRACT(EPOCH ...),
        -- and the engines share no other way (see queries/series.sql).
        ((EXTRACT(YEAR FROM ts) - 1970) * 365
            + FLOOR((EXTRACT(YEAR FROM ts) - 1969) / 4.0)
            - FLOOR((EXTRACT(YEAR FROM ts) - 1901) / 100.0)
            + FLOOR((EXTRACT(YEAR FROM ts) - 1601) / 400.0)
            + EXTRACT(DOY FROM ts) - 1) * 86400.0
            + EXTRACT(HOUR FROM ts) * 3600.0 + EXTRACT(MINUTE FROM ts) * 60.0
            + FLOOR(EXTRACT(SECOND FROM ts)) AS t,
        outcome
    FROM login
    WHERE host IS NOT NULL
),
bad_hours AS (
    SELECT region, day, hour
    FROM attempts
    GROUP BY region, day, hour
    HAVING SUM(CASE WHEN outcome = 'fail' THEN 1 ELSE 0 END) >= 10
        AND SUM(CASE WHEN outcome = 'fail' THEN 1 ELSE 0 END) >= 0.05 * COUNT(*)
),
bad AS (
    SELECT a.region, a.ts, a.t
    FROM attempts AS a
    JOIN bad_hours AS b ON b.region = a.region AND b.day = a.day AND b.hour = a.hour
    WHERE a.outcome = 'fail'
)
SELECT
    region,
    COUNT(*) AS failures_in_bad_hours,
    MIN(ts) AS first_failure,
    MAX(ts) AS last_failure,
    (MAX(t) - MIN(t)) / 60.0 AS minutes_to_recover
FROM bad
GROUP BY region
ORDER BY region
