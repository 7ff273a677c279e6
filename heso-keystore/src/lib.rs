//! heso-keystore (being written).
