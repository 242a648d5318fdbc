-- name: logins_vs_day_before
-- purpose: Login attempts per minute against the same minute the day before, and their ratio:
-- purpose: a flood shows as a ratio far above 1 for minutes on end.
-- tables: series
SELECT
    today.ts,
    today.attempts,
    yesterday.attempts AS attempts_day_before,
    CASE
        WHEN yesterday.attempts > 0 THEN today.attempts / yesterday.attempts
    END AS ratio
FROM series AS today
JOIN (SELECT ts + INTERVAL '1 day' AS ts, attempts FROM series) AS yesterday
    ON yesterday.ts = today.ts
ORDER BY today.ts
