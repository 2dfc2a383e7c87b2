CREATE TABLE meta (name VARCHAR(64) PRIMARY KEY, value LONGBLOB NOT NULL)
    ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE counters (name VARCHAR(255) PRIMARY KEY, value BIGINT NOT NULL)
    ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE tickets (
    id BINARY(16) PRIMARY KEY,
    number VARCHAR(64) NOT NULL UNIQUE,
    version BIGINT NOT NULL,
    queue VARCHAR(255) NOT NULL,
    state_type BIGINT NOT NULL,
    archived BIGINT NOT NULL,
    urgency BIGINT NOT NULL,
    created BIGINT NOT NULL,
    locked BIGINT NOT NULL,
    owner VARCHAR(255),
    customer VARCHAR(255),
    company VARCHAR(255),
    lock_due BIGINT,
    pending_due BIGINT,
    escalation_due BIGINT,
    doc LONGTEXT NOT NULL,
    INDEX tickets_view (archived, queue, state_type, urgency, created, id),
    INDEX tickets_customer (customer, urgency, created, id),
    INDEX tickets_company (company, urgency, created, id),
    INDEX tickets_lock_due (lock_due, id),
    INDEX tickets_pending_due (pending_due, id),
    INDEX tickets_escalation_due (escalation_due, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE ticket_queues (queue VARCHAR(255) PRIMARY KEY)
    ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE articles (
    ticket BINARY(16) NOT NULL,
    position BIGINT NOT NULL,
    message_id VARCHAR(700) UNIQUE,
    doc LONGTEXT NOT NULL,
    PRIMARY KEY (ticket, position)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE blobs (hash VARCHAR(64) PRIMARY KEY, data LONGBLOB NOT NULL)
    ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE events (
    seq BIGINT PRIMARY KEY,
    ticket BINARY(16) NOT NULL,
    doc LONGTEXT NOT NULL,
    INDEX events_ticket (ticket, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE customers (login VARCHAR(255) PRIMARY KEY, email VARCHAR(255) NOT NULL UNIQUE, doc LONGTEXT NOT NULL)
    ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE cursors (consumer VARCHAR(255) PRIMARY KEY, position BIGINT NOT NULL)
    ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT INTO counters (name, value) VALUES ('event_seq', 0);
