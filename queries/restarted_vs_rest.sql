-- name: restarted_vs_rest
-- purpose: Failure share of login attempts from clients that restarted in the hour before,
-- purpose: against all other attempts: do freshly rebooted machines fail more?
-- tables: login, change
WITH reboots AS (
    SELECT target AS client, ts AS reboot_ts FROM change WHERE kind = 'reboot'
),
recent AS (
    SELECT DISTINCT l.source, l.line
    FROM login AS l
    JOIN reboots AS r ON r.client = l.client
    WHERE l.ts >= r.reboot_ts AND l.ts < r.reboot_ts + INTERVAL '1 hour'
),
marked AS (
    SELECT
        l.outcome,
        CASE WHEN x.line IS NULL THEN 'rest' ELSE 'restarted within 1h' END AS cohort
    FROM login AS l
    LEFT JOIN recent AS x ON x.source = l.source AND x.line = l.line
)
SELECT
    cohort,
    COUNT(*) AS attempts,
    SUM(CASE WHEN outcome = 'fail' THEN 1 ELSE 0 END) AS failures,
    SUM(CASE WHEN outcome = 'fail' THEN 1.0 ELSE 0.0 END) / COUNT(*) AS failure_share
FROM marked
GROUP BY cohort
ORDER BY cohort
