-- name: supernode_churn_per_hour
-- purpose: Supernodes that joined and left per hour, and how many left while serving clients:
-- purpose: capacity churning away while demand rises.
-- tables: node
SELECT
    day,
    hour,
    SUM(joined) AS joined,
    SUM(left_) AS left_total,
    SUM(left_serving) AS left_serving,
    SUM(joined) - SUM(left_) AS net
FROM (
    SELECT
        CAST(ts AS DATE) AS day,
        EXTRACT(HOUR FROM ts) AS hour,
        CASE WHEN event = 'join' THEN 1 ELSE 0 END AS joined,
        CASE WHEN event = 'leave' THEN 1 ELSE 0 END AS left_,
        CASE WHEN event = 'leave' AND load > 0 THEN 1 ELSE 0 END AS left_serving
    FROM node
    WHERE event IN ('join', 'leave')
) AS e
GROUP BY day, hour
ORDER BY day, hour
