//! heso-chain (being written).
