//! One module per family of commands; each turns parsed arguments into API
//! requests and docker-shaped output.

pub mod attach;
pub mod container;
pub mod exec;
pub mod images;
pub mod inspect;
pub mod logs;
pub mod man;
pub mod ps;
pub mod system;
pub mod unknown;
