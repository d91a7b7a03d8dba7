-- Every POST /_/oidc/burn-token: PyPI answers 202 whatever happened, so what did
-- happen is kept here for the audit API and the dashboard.
CREATE TABLE token_burns (
    id INTEGER PRIMARY KEY,
    created_at BIGINT NOT NULL,
    token_id TEXT,
    outcome TEXT NOT NULL
);
CREATE INDEX token_burns_token ON token_burns (token_id);
