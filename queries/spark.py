#!/usr/bin/env python3
"""Runs a rootline query (queries/*.sql) on Apache Spark over the Parquet tables rootline wrote.

The heavy step at scale is queries/series.sql: the per-bucket series of the incident, from the
role tables, as a GROUP BY the cluster runs. rootline then reads the series it writes:

    rootline ingest --config incident.toml --out tables/          # or many ingests, one tree
    spark-submit queries/spark.py tables/ queries/series.sql --out series/
    rootline analyze --series series/ --tables tables/ --out out/

Without --out the rows are printed. --master local[2] runs Spark in this process (the default
when not run by spark-submit). Needs pyspark (pip install pyspark) and a Java runtime.

Spark's dialect differs from Polars' and DuckDB's in one function the shipped queries use:
QUANTILE_CONT(x, q) is PERCENTILE(x, q) there (both exact, linear between ranks).
Double-quoted names ("user") are identifiers, as in the other engines.
"""

import argparse
import os
import re
import sys

ROLES = ["login", "node", "change", "metric"]


def spark_sql(sql):
    """The query in Spark's spelling."""
    return re.sub(r"\bQUANTILE_CONT\s*\(", "PERCENTILE(", sql, flags=re.IGNORECASE)


def session(master=None, name="rootline"):
    from pyspark.sql import SparkSession

    b = (
        SparkSession.builder.appName(name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.ansi.doubleQuotedIdentifiers", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
    )
    if master:
        b = b.master(master).config("spark.sql.shuffle.partitions", "4")
    spark = b.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def register(spark, tables):
    """Views login, node, change and metric over the role tables that exist under `tables`,
    and `series` over series.parquet when it is there. Returns the names registered."""
    names = []
    for role in ROLES:
        path = os.path.join(tables, role)
        if os.path.isdir(path):
            spark.read.option("recursiveFileLookup", "true").parquet(path).createOrReplaceTempView(role)
            names.append(role)
    series = os.path.join(tables, "series.parquet")
    if os.path.exists(series):
        spark.read.parquet(series).drop("bucket_s", "series_version").createOrReplaceTempView("series")
        names.append("series")
    return names


def main(argv):
    p = argparse.ArgumentParser(
        description="Run a rootline query on Spark over rootline's Parquet tables.",
        epilog="example: spark-submit queries/spark.py tables/ queries/series.sql --out series/",
    )
    p.add_argument("tables", help="the directory `rootline ingest --out` wrote")
    p.add_argument("query", help="a .sql file (queries/series.sql, ...)")
    p.add_argument("--out", help="write the rows here as Parquet (a directory of parts)")
    p.add_argument("--master", help="Spark master; local[2] when not run by spark-submit")
    p.add_argument("--parts", type=int, default=1, help="Parquet parts to write (default 1)")
    a = p.parse_args(argv)
    if not os.path.isfile(os.path.join(a.tables, "ingest.json")):
        sys.exit(f"{a.tables}: no ingest.json; give the directory `rootline ingest --out` wrote")
    master = a.master or (None if "SPARK_ENV_LOADED" in os.environ else "local[2]")
    spark = session(master)
    names = register(spark, a.tables)
    with open(a.query) as f:
        sql = spark_sql(f.read())
    needed = re.search(r"^-- tables:(.*)$", sql, flags=re.MULTILINE)
    missing = [t.strip() for t in (needed.group(1).split(",") if needed else []) if t.strip() not in names]
    if missing:
        sys.exit(f"{a.query} needs the table(s) {', '.join(missing)}, and {a.tables} has none")
    df = spark.sql(sql)
    if a.out:
        df.coalesce(a.parts).write.mode("errorifexists").parquet(a.out)
        print(f"wrote {a.out}", file=sys.stderr)
    else:
        for row in df.collect():
            print(row)
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
