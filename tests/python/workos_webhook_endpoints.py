"""Drives the official `workos` Python SDK's webhook endpoint calls against a running dsync.

Environment: DSYNC_API_BASE_URL, DSYNC_API_KEY, and DSYNC_WEBHOOK_URL_A / _B, URLs the runner
accepts. Every call must succeed and every model must parse; prints a JSON summary the Rust
test checks. Secrets are not printed, only whether one was shown.
"""

import json
import os

from workos import WorkOSClient

base_url = os.environ["DSYNC_API_BASE_URL"].rstrip("/") + "/"
url_a = os.environ["DSYNC_WEBHOOK_URL_A"]
url_b = os.environ["DSYNC_WEBHOOK_URL_B"]
client = WorkOSClient(api_key=os.environ["DSYNC_API_KEY"], client_id="client_local", base_url=base_url, max_retries=0)
webhooks = client.webhooks

created = webhooks.create_webhook_endpoint(endpoint_url=url_a, events=["dsync.user.created", "dsync.group.created"])
second = webhooks.create_webhook_endpoint(endpoint_url=url_b, events=[])

# One endpoint a page, so the SDK follows `list_metadata.after` to the second.
paged = [e.id for e in webhooks.list_webhook_endpoints(limit=1).auto_paging_iter()]

disabled = webhooks.update_webhook_endpoint(created.id, status="disabled")
moved = webhooks.update_webhook_endpoint(created.id, endpoint_url=url_b, events=["dsync.deleted"], status="enabled")

webhooks.delete_webhook_endpoint(created.id)
webhooks.delete_webhook_endpoint(second.id)
left = webhooks.list_webhook_endpoints()

print(json.dumps({
    "created": {
        "object": created.object,
        "id": created.id,
        "endpoint_url": created.endpoint_url,
        "status": created.status.value,
        "events": created.events,
        "secret_shown": bool(created.secret) and created.secret.startswith("whsec_"),
    },
    "second_events": second.events,
    "paged": paged,
    "disabled": {"status": disabled.status.value, "secret": disabled.secret},
    "moved": {"status": moved.status.value, "endpoint_url": moved.endpoint_url, "events": moved.events},
    "timestamps_parse": created.created_at <= moved.updated_at,
    "left": [e.id for e in left.data],
}))
