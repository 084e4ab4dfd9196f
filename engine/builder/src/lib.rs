//! berth's image builder: a Dockerfile parsed into stages, planned against a `--target`,
//! executed step by step through an [`executor::Executor`] (the daemon's containers and image
//! store, or a fake in tests), with a step cache keyed by content.

pub mod args;
pub mod build;
pub mod cache;
pub mod config;
pub mod context;
pub mod copy;
pub mod dockerfile;
pub mod executor;
pub mod mounts;
pub mod plan;
mod steps;
pub mod subst;

/// What kind of failure an error is, for the daemon's API layer to pick a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    InvalidArgument,
    NotImplemented,
    Unavailable,
    Internal,
}
