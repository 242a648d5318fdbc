-- name: attempts_per_user
-- purpose: Login attempts per distinct user per hour, and the most any one user tried: a
-- purpose: retry storm shows as attempts per user rising with failures.
-- tables: login
WITH per_user AS (
    SELECT day, hour, who, COUNT(*) AS attempts, SUM(failed) AS failures
    FROM (
        SELECT
            CAST(ts AS DATE) AS day,
            EXTRACT(HOUR FROM ts) AS hour,
            "user" AS who,
            CASE WHEN outcome = 'fail' THEN 1 ELSE 0 END AS failed
        FROM login
        WHERE "user" IS NOT NULL
    ) AS a
    GROUP BY day, hour, who
)
SELECT
    day,
    hour,
    SUM(attempts) AS attempts,
    SUM(failures) AS failures,
    COUNT(*) AS users,
    SUM(attempts) * 1.0 / COUNT(*) AS attempts_per_user,
    MAX(attempts) AS max_by_one_user
FROM per_user
GROUP BY day, hour
ORDER BY day, hour
