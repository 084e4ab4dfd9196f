//! The supervisor: the one process that parents every container.
