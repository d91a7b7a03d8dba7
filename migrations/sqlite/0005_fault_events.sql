-- Faults that fired (the failure kit), with the request each one hit.
CREATE TABLE fault_events (
    id INTEGER PRIMARY KEY,
    created_at BIGINT NOT NULL,
    fault_id BIGINT NOT NULL,
    scenario TEXT,
    route TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    action TEXT NOT NULL,
    project TEXT,
    filename TEXT
);
