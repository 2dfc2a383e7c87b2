-- Event numbers come from a sequence instead of a counter row locked until commit, so commits
-- run side by side; committers hold a shared advisory lock while they take and write numbers,
-- which is what followers wait on when they meet a gap (see SqlStore::events_since).
CREATE SEQUENCE events_seq;
SELECT setval('events_seq', (SELECT value FROM counters WHERE name = 'event_seq') + 1, false);
