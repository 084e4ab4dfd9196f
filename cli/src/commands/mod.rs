//! One module per family of commands; each turns parsed arguments into API
//! requests and docker-shaped output.

pub mod archive;
pub mod attach;
pub mod build;
pub mod cidfile;
pub mod container;
pub mod cp;
pub mod events;
pub mod exec;
pub mod image_admin;
pub mod images;
pub mod inspect;
pub mod logs;
pub mod man;
pub mod network;
pub mod observe;
pub mod port;
pub mod prune;
pub mod ps;
pub mod registry;
pub mod stats;
pub mod system;
pub mod unknown;
pub mod update;
pub mod volume;
