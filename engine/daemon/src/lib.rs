//! berthd.
