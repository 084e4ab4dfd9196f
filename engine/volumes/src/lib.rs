//! Volumes as Docker's `local` driver keeps them: one directory per volume under
//! `<data-root>/volumes/<name>/_data`, its metadata beside it, written atomically.
//!
//! The store counts which containers use each volume (a volume in use cannot be removed)
//! and mounts a volume created with mount options (`type`, `o`, `device`) when its first
//! user takes it and unmounts it when the last one lets go. The users are not stored: they
//! are the containers whose records name the volume, handed back to the store when the
//! daemon starts, so no crash can leave a count and the containers disagreeing.
//!
//! Everything that touches the OS's mount table goes through [`Mounter`], so the store's
//! logic is tested without root.

mod copy;
mod error;
mod mounter;
mod name;
mod options;
mod store;
mod usage;

pub use copy::{copy_up, CopyError};
pub use error::{Error, ErrorKind};
pub use mounter::{LinuxMounter, Mounter};
pub use name::{anonymous_name, validate_name};
pub use options::MountSpec;
pub use store::{CreateRequest, Store, Volume, ANONYMOUS_LABEL, LOCAL_DRIVER};
pub use usage::dir_size;
