"""DuckDB's side of the ingest benchmark: the same file to Parquet sorted by customer and time.

    python3 bench/duckdb_convert.py csv|ndjson INPUT OUTPUT
Prints the seconds taken.
"""
import sys
import time

import duckdb

fmt, source, output = sys.argv[1:4]
con = duckdb.connect()
if fmt == "csv":
    select = f"SELECT * FROM read_csv('{source}', header = true) ORDER BY coalesce(user_id, anonymous_id), event_time"
else:
    select = (
        f"SELECT * FROM read_json('{source}', format = 'newline_delimited', maximum_object_size = 33554432) "
        "ORDER BY coalesce(userId, anonymousId), timestamp"
    )
start = time.perf_counter()
con.execute(f"COPY ({select}) TO '{output}' (FORMAT parquet, COMPRESSION snappy)")
print(f"{time.perf_counter() - start:.3f}")
