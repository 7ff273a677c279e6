//! heso-policy (being written).
