//! Containers: one actor each, an index of them, and the pieces that build their runtime
//! configuration and carry their output.

pub mod actor;
pub mod attach;
pub mod create;
pub mod creation;
pub mod defaults;
pub mod error;
pub mod exec;
pub mod exec_user;
pub mod files;
pub mod log_render;
pub mod logs;
pub mod mount_points;
pub mod names;
pub mod notify;
pub mod output;
pub mod proc_top;
pub mod process;
pub mod published;
pub mod record;
pub mod rootfs_view;
pub mod signal;
pub mod spec;
pub mod stdio;
pub mod sweep;
#[cfg(test)]
pub mod testing;
pub mod top;
pub mod trash;
pub mod view;
pub mod volumes;
