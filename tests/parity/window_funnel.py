"""Reference funnel numbers for the parity test, from two independent engines.

    python3 window_funnel.py EVENTS.ndjson STAGES WINDOW_MS [WINDOW_MS ...]

Reads Segment track events (userId, event, timestamp) and prints one JSON document:
- "levels": for each window (milliseconds; 0 means unbounded), every user's level as
  ClickHouse computes it with windowFunnel(window)(timestamp, event = 's1', ...,
  event = 'sN'), run by chDB;
- "reach": for each stage, the users who had at least one of its events, counted by DuckDB.
"""

import json
import sys

import chdb
import duckdb

path, stages, windows = sys.argv[1], int(sys.argv[2]), [int(w) for w in sys.argv[3:]]
conditions = ", ".join(f"event = 's{i}'" for i in range(1, stages + 1))
source = (
    f"file('{path}', JSONEachRow, "
    "'userId String, event String, timestamp String')"
)
levels = {}
for window in windows:
    # Unbounded: a window longer than any history.
    width = window if window > 0 else 10**15
    result = chdb.query(
        f"""
        SELECT userId,
               windowFunnel({width})(
                   toUInt64(toUnixTimestamp64Milli(parseDateTime64BestEffort(timestamp, 3, 'UTC'))),
                   {conditions}) AS level
        FROM {source}
        GROUP BY userId
        """,
        "JSON",
    )
    rows = json.loads(result.bytes())["data"]
    levels[str(window)] = {row["userId"]: int(row["level"]) for row in rows}

con = duckdb.connect()
reach = []
for i in range(1, stages + 1):
    (count,) = con.execute(
        "SELECT count(DISTINCT userId) FROM read_json(?, format = 'newline_delimited') "
        "WHERE event = ?",
        [path, f"s{i}"],
    ).fetchone()
    reach.append(count)

json.dump({"levels": levels, "reach": reach}, sys.stdout)
