-- A search without words (filters only) lists tickets newest first: read backwards along
-- this index instead of sorting every ticket the filters leave.
CREATE INDEX tickets_created ON tickets (created, id);
