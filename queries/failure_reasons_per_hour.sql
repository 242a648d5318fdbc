-- name: failure_reasons_per_hour
-- purpose: Failed logins per hour by reason, the most common reason of each hour first.
-- tables: login
SELECT day, hour, reason, COUNT(*) AS failures
FROM (
    SELECT
        CAST(ts AS DATE) AS day,
        EXTRACT(HOUR FROM ts) AS hour,
        COALESCE(reason, '(none)') AS reason
    FROM login
    WHERE outcome = 'fail'
) AS f
GROUP BY day, hour, reason
ORDER BY day, hour, failures DESC, reason
