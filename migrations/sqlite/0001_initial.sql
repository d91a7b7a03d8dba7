-- Times are Unix seconds (BIGINT) so the same queries run through sqlx::Any on both backends.
CREATE TABLE projects (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    normalized_name TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_serial BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE releases (
    id INTEGER PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    version TEXT NOT NULL,
    metadata TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (project_id, version)
);

CREATE TABLE files (
    id INTEGER PRIMARY KEY,
    release_id BIGINT NOT NULL REFERENCES releases(id) ON DELETE CASCADE,
    filename TEXT NOT NULL UNIQUE,
    packagetype TEXT NOT NULL,
    python_version TEXT NOT NULL,
    requires_python TEXT,
    size BIGINT NOT NULL,
    md5_digest TEXT NOT NULL,
    sha256_digest TEXT NOT NULL,
    blake2_256_digest TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL,
    metadata_sha256 TEXT,
    metadata_blake2_256 TEXT,
    metadata BLOB,
    upload_time BIGINT NOT NULL,
    token_id TEXT
);
CREATE INDEX files_release ON files (release_id);
CREATE UNIQUE INDEX files_path ON files (path);

CREATE TABLE trusted_issuers (
    id INTEGER PRIMARY KEY,
    provider TEXT NOT NULL,
    url TEXT NOT NULL UNIQUE,
    jwks_url TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE publishers (
    id INTEGER PRIMARY KEY,
    provider TEXT NOT NULL,
    project TEXT NOT NULL,
    pending BIGINT NOT NULL DEFAULT 0,
    config TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (provider, project, config)
);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    publisher_id BIGINT,
    projects TEXT,
    description TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    burned_at BIGINT
);

CREATE TABLE oidc_jti (
    issuer TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, jti)
);
CREATE INDEX oidc_jti_expiry ON oidc_jti (expires_at);

CREATE TABLE exchanges (
    id INTEGER PRIMARY KEY,
    created_at BIGINT NOT NULL,
    issuer TEXT,
    provider TEXT,
    outcome TEXT NOT NULL,
    description TEXT NOT NULL,
    publisher_id BIGINT,
    project TEXT,
    token_id TEXT,
    token_expires BIGINT,
    detail TEXT NOT NULL
);
CREATE INDEX exchanges_project ON exchanges (project);
