-- name: series
-- purpose: The series table (contract version 1, src/detect/series.rs) from the role tables, at
-- purpose: 1-minute buckets, in SQL that Polars, DuckDB and Spark all run: `rootline analyze
-- purpose: --series` reads its output. See docs/SCALE.md.
-- tables: login, node, change
--
-- Portable on purpose, so some of it reads long:
-- * Seconds since the epoch are built from EXTRACT fields: the three engines share no epoch
--   function (Spark has no EXTRACT(EPOCH ...)). Whole seconds: a 1-minute bucket needs no more.
-- * The bucket is a number (`epoch_s`, its start in seconds), not a timestamp: the engines share
--   no way to make one from a number either. The contract reads `epoch_s` where `ts` is missing.
-- * Spark spells QUANTILE_CONT(x, q) as PERCENTILE(x, q) (exact, linear as here);
--   queries/spark.py, which runs a query on Spark, makes that one change.
-- * Change kinds are columns, and SQL cannot make columns from values: one line per kind below
--   (those rootline's presets and simulator emit); add a line for a kind of your own.
-- * Plain metrics (`metric:<name>`) are not made here, for the same reason.
-- * Nodes online: a node is online from any row until its next row, its `leave`/`crash`, or
--   three times the usual gap between two rows of one node (at least a bucket), as rootline
--   counts them; each row adds itself at the bucket it falls in and takes itself away at the
--   bucket its cover ends in, and a running sum adds these up.
WITH login_s AS (
    SELECT
        "user",
        outcome,
        latency_ms,
        ((EXTRACT(YEAR FROM ts) - 1970) * 365
            + FLOOR((EXTRACT(YEAR FROM ts) - 1969) / 4.0)
            - FLOOR((EXTRACT(YEAR FROM ts) - 1901) / 100.0)
            + FLOOR((EXTRACT(YEAR FROM ts) - 1601) / 400.0)
            + EXTRACT(DOY FROM ts) - 1) * 86400.0
            + EXTRACT(HOUR FROM ts) * 3600.0 + EXTRACT(MINUTE FROM ts) * 60.0 AS b
    FROM login
),
logins AS (
    SELECT
        b,
        COUNT(*) AS attempts,
        SUM(CASE WHEN outcome = 'fail' THEN 1 ELSE 0 END) AS failures,
        COUNT(DISTINCT "user") AS users,
        MEDIAN(latency_ms) AS latency_p50,
        QUANTILE_CONT(latency_ms, 0.99) AS latency_p99
    FROM login_s
    GROUP BY b
),
node_s AS (
    SELECT
        node,
        event,
        load,
        capacity,
        ts,
        source,
        line,
        ((EXTRACT(YEAR FROM ts) - 1970) * 365
            + FLOOR((EXTRACT(YEAR FROM ts) - 1969) / 4.0)
            - FLOOR((EXTRACT(YEAR FROM ts) - 1901) / 100.0)
            + FLOOR((EXTRACT(YEAR FROM ts) - 1601) / 400.0)
            + EXTRACT(DOY FROM ts) - 1) * 86400.0
            + EXTRACT(HOUR FROM ts) * 3600.0 + EXTRACT(MINUTE FROM ts) * 60.0
            + FLOOR(EXTRACT(SECOND FROM ts)) AS t
    FROM node
    WHERE node IS NOT NULL
),
node_seq AS (
    SELECT
        node,
        event,
        COALESCE(load, 0) AS load,
        COALESCE(capacity, 0) AS capacity,
        t,
        FLOOR(t / 60) * 60 AS b,
        LAG(t) OVER (PARTITION BY node ORDER BY ts, source, line) AS prev_t,
        LAG(event) OVER (PARTITION BY node ORDER BY ts, source, line) AS prev_event,
        LEAD(t) OVER (PARTITION BY node ORDER BY ts, source, line) AS next_t
    FROM node_s
),
stale AS (
    SELECT 3 * GREATEST(MEDIAN(t - prev_t), 60) AS s
    FROM node_seq
    WHERE prev_t IS NOT NULL
),
node_rows AS (
    SELECT
        q.*,
        FLOOR(LEAST(COALESCE(q.next_t, q.t + st.s), q.t + st.s) / 60) * 60 AS end_b,
        CASE
            WHEN q.prev_t IS NOT NULL
                AND q.prev_event NOT IN ('leave', 'crash')
                AND q.b - q.prev_t <= st.s
            THEN 1 ELSE 0
        END AS was_online
    FROM node_seq AS q
    CROSS JOIN stale AS st
),
node_deltas AS (
    SELECT b, 1 AS d_nodes, load AS d_load, capacity AS d_capacity, 0 AS churn
    FROM node_rows
    WHERE event NOT IN ('leave', 'crash') AND end_b > b
    UNION ALL
    SELECT end_b AS b, -1 AS d_nodes, -load AS d_load, -capacity AS d_capacity, 0 AS churn
    FROM node_rows
    WHERE event NOT IN ('leave', 'crash') AND end_b > b
    UNION ALL
    SELECT b, 0 AS d_nodes, 0 AS d_load, 0 AS d_capacity, 1 AS churn
    FROM node_rows
    WHERE (event = 'join' AND was_online = 0)
        OR (event IN ('leave', 'crash') AND was_online = 1)
),
node_buckets AS (
    SELECT b, SUM(d_nodes) AS d_nodes, SUM(d_load) AS d_load, SUM(d_capacity) AS d_capacity,
        SUM(churn) AS node_churn
    FROM node_deltas
    GROUP BY b
),
nodes AS (
    SELECT
        b,
        SUM(d_nodes) OVER (ORDER BY b) AS nodes_online,
        SUM(d_capacity) OVER (ORDER BY b) AS capacity,
        SUM(d_load) OVER (ORDER BY b) AS load,
        node_churn
    FROM node_buckets
),
change_s AS (
    SELECT
        LOWER(kind) AS kind,
        ((EXTRACT(YEAR FROM ts) - 1970) * 365
            + FLOOR((EXTRACT(YEAR FROM ts) - 1969) / 4.0)
            - FLOOR((EXTRACT(YEAR FROM ts) - 1901) / 100.0)
            + FLOOR((EXTRACT(YEAR FROM ts) - 1601) / 400.0)
            + EXTRACT(DOY FROM ts) - 1) * 86400.0
            + EXTRACT(HOUR FROM ts) * 3600.0 + EXTRACT(MINUTE FROM ts) * 60.0 AS b
    FROM change
),
changes AS (
    SELECT
        b,
        COUNT(*) AS changes,
        SUM(CASE WHEN kind = 'install' THEN 1 ELSE 0 END) AS change_install,
        SUM(CASE WHEN kind = 'reboot' THEN 1 ELSE 0 END) AS change_reboot,
        SUM(CASE WHEN kind = 'release' THEN 1 ELSE 0 END) AS change_release,
        SUM(CASE WHEN kind = 'restart' THEN 1 ELSE 0 END) AS change_restart,
        SUM(CASE WHEN kind = 'deploy' THEN 1 ELSE 0 END) AS change_deploy
    FROM change_s
    GROUP BY b
),
buckets AS (
    SELECT b FROM logins
    UNION
    SELECT b FROM nodes
    UNION
    SELECT b FROM changes
),
-- A node's cover may end after the last row of any table: the series ends at the last row.
last_row AS (
    SELECT MAX(b) AS last_b
    FROM (
        SELECT b FROM logins
        UNION ALL
        SELECT b FROM node_seq
        UNION ALL
        SELECT b FROM changes
    ) AS rows_b
)
SELECT
    CAST(k.b AS BIGINT) AS epoch_s,
    60 AS bucket_s,
    1 AS series_version,
    COALESCE(l.attempts, 0) AS attempts,
    COALESCE(l.failures, 0) AS failures,
    CASE WHEN l.attempts > 0 THEN l.failures / CAST(l.attempts AS DOUBLE) ELSE 0 END AS failure_ratio,
    COALESCE(l.users, 0) AS users,
    CASE WHEN l.users > 0 THEN l.attempts / CAST(l.users AS DOUBLE) ELSE 0 END AS per_user,
    COALESCE(l.latency_p50, 0) AS latency_p50,
    COALESCE(l.latency_p99, 0) AS latency_p99,
    n.nodes_online,
    n.capacity,
    n.load,
    -- Null where no node row fell in the bucket: the level carries on (the contract says so).
    CASE
        WHEN n.capacity IS NULL THEN NULL
        WHEN n.capacity > 0 THEN n.load / n.capacity
        ELSE 0
    END AS utilisation,
    COALESCE(n.node_churn, 0) AS node_churn,
    COALESCE(c.changes, 0) AS changes,
    COALESCE(c.change_install, 0) AS change_install,
    COALESCE(c.change_reboot, 0) AS change_reboot,
    COALESCE(c.change_release, 0) AS change_release,
    COALESCE(c.change_restart, 0) AS change_restart,
    COALESCE(c.change_deploy, 0) AS change_deploy
FROM buckets AS k
LEFT JOIN logins AS l ON l.b = k.b
LEFT JOIN nodes AS n ON n.b = k.b
LEFT JOIN changes AS c ON c.b = k.b
CROSS JOIN last_row AS z
WHERE k.b <= z.last_b
ORDER BY epoch_s
