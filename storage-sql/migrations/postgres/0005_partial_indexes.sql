-- Most tickets have no company, owner or lock, and no due time of one kind or another: their
-- rows stay out of those indexes, which is a third fewer index entries per new ticket. Every
-- query on these columns compares them with `=` or `<=` (or asks for MIN), which implies
-- NOT NULL, so the planner still uses the indexes; locked tickets are asked for with the
-- literal `locked = 1`.
DROP INDEX tickets_company;
CREATE INDEX tickets_company ON tickets (company, urgency, created, id) WHERE company IS NOT NULL;
DROP INDEX tickets_owner;
CREATE INDEX tickets_owner ON tickets (owner, archived, state_type, urgency, created, id)
    WHERE owner IS NOT NULL;
DROP INDEX tickets_locked;
CREATE INDEX tickets_locked ON tickets (archived, urgency, created, id) WHERE locked = 1;
DROP INDEX tickets_lock_due;
CREATE INDEX tickets_lock_due ON tickets (lock_due, id) WHERE lock_due IS NOT NULL;
DROP INDEX tickets_pending_due;
CREATE INDEX tickets_pending_due ON tickets (pending_due, id) WHERE pending_due IS NOT NULL;
DROP INDEX tickets_escalation_due;
CREATE INDEX tickets_escalation_due ON tickets (escalation_due, id)
    WHERE escalation_due IS NOT NULL;
