-- PyPI's 2026 rules: project status (PEP 792), prohibited project names, single-use
-- upload tokens (PEP 807's single-use-token feature).
ALTER TABLE projects ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE projects ADD COLUMN status_reason TEXT;

CREATE TABLE prohibited_names (
    name TEXT PRIMARY KEY,
    comment TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);

ALTER TABLE api_tokens ADD COLUMN single_use BIGINT NOT NULL DEFAULT 0;
ALTER TABLE api_tokens ADD COLUMN used_at BIGINT;
