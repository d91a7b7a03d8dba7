-- The failure kit's state, shared by every replica on one database: each armed fault
-- with its counters (a fault armed on any replica fires as many times across all of
-- them as its definition says), and the files a stale-page fault keeps off the pages.
CREATE TABLE armed_faults (
    id INTEGER PRIMARY KEY,
    definition TEXT NOT NULL,
    seen INTEGER NOT NULL DEFAULT 0,
    fired INTEGER NOT NULL DEFAULT 0,
    rng INTEGER NOT NULL,
    armed_at INTEGER NOT NULL
);
CREATE TABLE hidden_files (
    project TEXT NOT NULL,
    filename TEXT NOT NULL,
    until_at INTEGER NOT NULL
);
