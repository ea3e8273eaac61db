//! Persistent store of desired state and observed status (SQLite).
