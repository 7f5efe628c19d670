"""Sends events to `parcours serve` with Segment's official Python SDK
(segment-analytics-python), as a customer's app would.

    python3 tests/sdk/segment_sdk.py HOST WRITE_KEY TRACKS

An anonymous visitor first (a page and five track events), then `identify` tying the
anonymous id to a user id and an email, then TRACKS track events of that user. Prints one
JSON line: what was sent and whether the SDK reported an error.
"""

import json
import sys

import segment.analytics as analytics

host, write_key, tracks = sys.argv[1], sys.argv[2], int(sys.argv[3])
errors = []
analytics.write_key = write_key
analytics.host = host
analytics.on_error = lambda error, items: errors.append(str(error))
analytics.max_retries = 3

anonymous_id = "anon-sdk-1"
analytics.page(anonymous_id=anonymous_id, name="Home", properties={"path": "/"})
for n in range(5):
    analytics.track(anonymous_id=anonymous_id, event="Product Viewed", properties={"n": n})
analytics.identify(
    user_id="u-sdk",
    anonymous_id=anonymous_id,
    traits={"email": "SDK.User@example.com", "plan": "pro"},
)
for n in range(tracks):
    analytics.track(user_id="u-sdk", event="Order Step", properties={"n": n, "note": "café"})
analytics.flush()
analytics.shutdown()
print(json.dumps({"anonymous": 6, "identify": 1, "tracks": tracks, "errors": errors}))
