//! heso-redact (being written).
