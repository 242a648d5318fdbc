-- name: patches_per_hour
-- purpose: Patch installs and restarts per hour: the change and the reboot wave it caused.
-- tables: change
SELECT
    day,
    hour,
    SUM(CASE WHEN kind = 'install' THEN 1 ELSE 0 END) AS installs,
    SUM(CASE WHEN kind = 'reboot' THEN 1 ELSE 0 END) AS restarts,
    COUNT(DISTINCT target) AS machines
FROM (
    SELECT CAST(ts AS DATE) AS day, EXTRACT(HOUR FROM ts) AS hour, kind, target
    FROM change
    WHERE kind IN ('install', 'reboot')
) AS c
GROUP BY day, hour
ORDER BY day, hour
