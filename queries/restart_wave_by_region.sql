-- name: restart_wave_by_region
-- purpose: Restarts per hour by region, where a machine's region is that of the login server
-- purpose: it logs in to (the second part of a host name like login-eu-2): the wave follows
-- purpose: the night around the world.
-- tables: change, login
WITH client_region AS (
    SELECT client, MIN(SPLIT_PART(host, '-', 2)) AS region
    FROM login
    WHERE client IS NOT NULL AND host IS NOT NULL
    GROUP BY client
),
restarts AS (
    SELECT
        CAST(c.ts AS DATE) AS day,
        EXTRACT(HOUR FROM c.ts) AS hour,
        COALESCE(r.region, '(unknown)') AS region
    FROM change AS c
    LEFT JOIN client_region AS r ON r.client = c.target
    WHERE c.kind = 'reboot'
)
SELECT day, hour, region, COUNT(*) AS restarts
FROM restarts
GROUP BY day, hour, region
ORDER BY day, hour, region
