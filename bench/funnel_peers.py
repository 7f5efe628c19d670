"""The peers' side of the analysis benchmark: the digital journey's funnel over a store's
Parquet segments, computed by ClickHouse (chDB) or DuckDB.

    python3 bench/funnel_peers.py chdb|duckdb 'DIR/events/*.parquet'

Prints one JSON line: {"seconds": ..., "customers": ..., "reached": [customers at level >= k]}.

The funnel is the `digital` template's: five stages in order within 90 days, the last one
met by a loyalty or referral event or by a second purchase. ClickHouse runs it with
`windowFunnel`; DuckDB with SQL: for every start event, the chain of the earliest next-stage
events (ASOF joins), kept within the window, the best chain per customer. Both read the
columns they need straight from the segments, as Parcours does.
"""

import json
import sys
import time

engine, files = sys.argv[1], sys.argv[2]
WINDOW_MS = 90 * 86_400 * 1000
STAGES = [
    "event IN ('ad_clicked', 'social_clicked') OR type = 'page'",
    "event IN ('product_view', 'review_read', 'compare')",
    "event IN ('add_to_cart', 'checkout_started')",
    "event = 'purchase'",
    "event IN ('loyalty_joined', 'referral_sent') OR (event = 'purchase' AND purchases >= 2)",
]


def chdb_funnel():
    import chdb

    conditions = ", ".join(f"({c})" for c in STAGES)
    query = f"""
        SELECT level, count() AS customers FROM (
            SELECT customer_id,
                   windowFunnel({WINDOW_MS})(ts, {conditions}) AS level
            FROM (
                SELECT customer_id, event, type,
                       toUInt64(toUnixTimestamp64Milli(timestamp)) AS ts,
                       sum(event = 'purchase') OVER (
                           PARTITION BY customer_id ORDER BY timestamp, event_key
                           ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS purchases
                FROM file('{files}', Parquet)
            )
            GROUP BY customer_id
        ) GROUP BY level ORDER BY level
    """
    result = chdb.query(query, "JSON")
    return {int(r["level"]): int(r["customers"]) for r in json.loads(result.bytes())["data"]}


def duckdb_funnel():
    import duckdb

    con = duckdb.connect()
    stage_views = []
    for i, condition in enumerate(STAGES, start=1):
        stage_views.append(f"s{i} AS (SELECT c, t FROM e WHERE {condition})")
    # Chains are built one join at a time: each join needs the previous step's time.
    steps = ["c1 AS (SELECT c, t AS t1, t AS t FROM s1)"]
    for i in range(2, len(STAGES) + 1):
        previous = ", ".join(f"t{j}" for j in range(1, i))
        steps.append(
            f"c{i} AS (SELECT c{i - 1}.c, {previous}, s{i}.t AS t{i}, s{i}.t AS t "
            f"FROM c{i - 1} ASOF LEFT JOIN s{i} ON s{i}.c = c{i - 1}.c AND s{i}.t >= c{i - 1}.t)"
        )
    level = " + ".join(
        f"(t{i} IS NOT NULL AND t{i} <= t1 + {WINDOW_MS})::INT" for i in range(2, len(STAGES) + 1)
    )
    query = f"""
        WITH e AS (
            SELECT customer_id AS c, epoch_ms(timestamp) AS t, event, type,
                   sum((event = 'purchase')::INT) OVER (
                       PARTITION BY customer_id ORDER BY timestamp, event_key
                       ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS purchases
            FROM read_parquet('{files}')
        ),
        {", ".join(stage_views)},
        {", ".join(steps)},
        best AS (SELECT c, max(1 + {level}) AS level FROM c{len(STAGES)} GROUP BY c),
        everyone AS (SELECT DISTINCT c FROM e)
        SELECT coalesce(best.level, 0) AS level, count(*) AS customers
        FROM everyone LEFT JOIN best USING (c)
        GROUP BY 1 ORDER BY 1
    """
    return {int(level): int(n) for level, n in con.execute(query).fetchall()}


start = time.perf_counter()
levels = chdb_funnel() if engine == "chdb" else duckdb_funnel()
seconds = time.perf_counter() - start
customers = sum(levels.values())
reached = [sum(n for level, n in levels.items() if level >= k) for k in range(1, len(STAGES) + 1)]
print(json.dumps({"seconds": round(seconds, 3), "customers": customers, "reached": reached}))
