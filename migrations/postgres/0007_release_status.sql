-- A release's lifecycle status (Warehouse's Release.lifecycle_status, 2026-05-12), by
-- project and canonical version: set through the control API or the config file, for a
-- release that exists or one still to be uploaded. No row: active.
CREATE TABLE release_statuses (
    project TEXT NOT NULL,
    version TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    PRIMARY KEY (project, version)
);
