// Drives the official WorkOS Node SDK (`@workos-inc/node`, pinned in package.json) against a
// running dsync, unchanged: only its API host, port and key point at the service.
//
// Environment: DSYNC_API_BASE_URL, DSYNC_API_KEY, DSYNC_DIRECTORY_ID (a directory with users
// and groups), DSYNC_DELETE_DIRECTORY_ID (a directory to delete), DSYNC_DELIVERIES_FILE
// ({"secret": "...", "deliveries": [{"signature": "...", "body": "..."}]}, webhook deliveries
// as received). Every call must succeed and every object must deserialize; prints a JSON
// summary the Rust test (tests/workos_node_sdk.rs) checks.

import { readFileSync } from 'node:fs';
import { WorkOS } from '@workos-inc/node';

const base = new URL(process.env.DSYNC_API_BASE_URL);
const workos = new WorkOS(process.env.DSYNC_API_KEY, {
  apiHostname: base.hostname,
  port: base.port ? Number(base.port) : undefined,
  https: base.protocol === 'https:',
});
const sync = workos.directorySync;
const directoryId = process.env.DSYNC_DIRECTORY_ID;

const check = (condition, message) => {
  if (!condition) throw new Error(message);
};

const directories = await sync.listDirectories({ limit: 10 });
check(directories.data.some((d) => d.id === directoryId), 'the directory is listed');
const directory = await sync.getDirectory(directoryId);

const users = await sync.listUsers({ directory: directoryId, limit: 100 });
check(users.data.length > 0, 'the directory has users');
const allUsers = await (await sync.listUsers({ directory: directoryId })).autoPagination();
const user = await sync.getUser(users.data[0].id);
check(user.id === users.data[0].id, 'getUser returns the user asked for');

const groups = await sync.listGroups({ directory: directoryId, limit: 100 });
check(groups.data.length > 0, 'the directory has groups');
const group = await sync.getGroup(groups.data[0].id);
const members = await sync.listUsers({ group: group.id, limit: 100 });
const groupsOfUser = await sync.listGroups({ user: user.id, limit: 100 });

const names = [
  'dsync.user.created',
  'dsync.user.updated',
  'dsync.group.created',
  'dsync.group.user_added',
];
const events = await workos.events.listEvents({ events: names, limit: 100 });
const after = events.data.length
  ? await workos.events.listEvents({ events: names, limit: 1, after: events.data[0].id })
  : { data: [] };

// Webhook deliveries as the receiver got them: the SDK checks the `WorkOS-Signature`.
const spec = JSON.parse(readFileSync(process.env.DSYNC_DELIVERIES_FILE, 'utf8'));
const constructed = [];
for (const delivery of spec.deliveries) {
  const event = await workos.webhooks.constructEvent({
    payload: JSON.parse(delivery.body),
    sigHeader: delivery.signature,
    secret: spec.secret,
  });
  constructed.push({ id: event.id, event: event.event, directory_id: event.data.directoryId ?? null });
}
let forgedRejected = false;
try {
  await workos.webhooks.constructEvent({
    payload: { ...JSON.parse(spec.deliveries[0].body), id: 'event_forged' },
    sigHeader: spec.deliveries[0].signature,
    secret: spec.secret,
  });
} catch {
  forgedRejected = true;
}

await sync.deleteDirectory(process.env.DSYNC_DELETE_DIRECTORY_ID);

const byEmail = Object.fromEntries(
  users.data.map((u) => [u.email, { groups: u.groups.map((g) => g.name).sort(), role: u.role ?? null, roles: u.roles ?? null }]),
);
console.log(JSON.stringify({
  directories: directories.data.map((d) => d.id),
  directory: { id: directory.id, state: directory.state, type: directory.type, name: directory.name },
  users: users.data.map((u) => u.email).sort(),
  auto_paged_users: allUsers.length,
  users_by_email: byEmail,
  user: { id: user.id, state: user.state, groups: user.groups.map((g) => g.name), custom_attributes: user.customAttributes },
  groups: groups.data.map((g) => g.name).sort(),
  group: { id: group.id, name: group.name, directory_id: group.directoryId },
  members: members.data.map((u) => u.email).sort(),
  groups_of_user: groupsOfUser.data.map((g) => g.name),
  events: events.data.map((e) => e.event),
  first_event_id: events.data[0]?.id ?? null,
  after_first: after.data.map((e) => e.id),
  constructed,
  forged_rejected: forgedRejected,
}));
