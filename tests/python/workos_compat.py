"""Drives the official `workos` Python SDK against a running dsync.

Environment: DSYNC_API_BASE_URL, DSYNC_API_KEY, DSYNC_DIRECTORY_ID. Every call must succeed
and every model must parse; prints a JSON summary the Rust test checks.
"""

import json
import os

from workos import WorkOSClient

base_url = os.environ["DSYNC_API_BASE_URL"].rstrip("/") + "/"
directory_id = os.environ["DSYNC_DIRECTORY_ID"]
client = WorkOSClient(api_key=os.environ["DSYNC_API_KEY"], client_id="client_local", base_url=base_url, max_retries=0)
sync = client.directory_sync

directories = sync.list_directories(limit=10)
assert any(d.id == directory_id for d in directories.data), directories
directory = sync.get_directory(directory_id)

users = sync.list_users(directory=directory_id, limit=100)
assert users.data, "the directory has users"
user = sync.get_user(users.data[0].id)
assert user.id == users.data[0].id

groups = sync.list_groups(directory=directory_id, limit=100)
assert groups.data, "the directory has groups"
group = sync.get_group(groups.data[0].id)
members = sync.list_users(group=group.id, limit=100)
groups_of_user = sync.list_groups(user=user.id, limit=100)

names = [
    "dsync.user.created",
    "dsync.user.updated",
    "dsync.user.deleted",
    "dsync.group.created",
    "dsync.group.user_added",
    "dsync.group.user_removed",
]
events = client.events.list_events(events=names, limit=100)
after = client.events.list_events(events=names, limit=1, after=events.data[0].id) if events.data else None

print(json.dumps({
    "directory": directory.id,
    "users": sorted(u.email or "" for u in users.data),
    "user_state": user.state,
    "groups": sorted(g.name for g in groups.data),
    "members": len(members.data),
    "groups_of_user": len(groups_of_user.data),
    "events": [e.event for e in events.data],
    "after_first": [e.id for e in after.data] if after else [],
}))
