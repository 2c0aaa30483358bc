"""Verifies recorded webhook deliveries with two third-party verifiers: the Standard Webhooks
reference library and the official WorkOS SDK's `verify_event`.

Usage: verify_webhooks.py FILE, where FILE holds
  {"standard_secrets": [...], "workos_secret": "...", "deliveries": [{"headers": {...}, "body": "..."}]}
Every delivery must verify with every Standard Webhooks secret, and with the WorkOS secret.
Prints {"standard": n, "workos": n} (verifications that passed); exits non-zero on any failure.
"""

import json
import sys

from standardwebhooks import Webhook
from workos import WorkOSClient

with open(sys.argv[1]) as f:
    spec = json.load(f)

workos = WorkOSClient(api_key="sk_unused", client_id="client_unused")
counts = {"standard": 0, "workos": 0}
for delivery in spec["deliveries"]:
    headers = {k.lower(): v for k, v in delivery["headers"].items()}
    body = delivery["body"]
    for secret in spec["standard_secrets"]:
        payload = Webhook(secret).verify(body, headers)
        assert payload["id"] == headers["webhook-id"], payload
        counts["standard"] += 1
    event = workos.webhooks.verify_event(
        event_body=body.encode(),
        event_signature=headers["workos-signature"],
        secret=spec["workos_secret"],
    )
    assert event.id == headers["webhook-id"], event
    counts["workos"] += 1

print(json.dumps(counts))
