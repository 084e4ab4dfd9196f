//! The layer store.
