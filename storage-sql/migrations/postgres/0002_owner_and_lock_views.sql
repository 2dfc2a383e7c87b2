-- "My tickets" and "locked tickets" views: an agent's own tickets and the few locked ones are
-- found without walking every queue bucket.
CREATE INDEX tickets_owner ON tickets (owner, archived, state_type, urgency, created, id);
CREATE INDEX tickets_locked ON tickets (locked, archived, urgency, created, id);
