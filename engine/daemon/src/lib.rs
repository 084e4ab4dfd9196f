//! berthd: an actor-based daemon serving the Docker Engine API.
//!
//! Layout: `api` turns HTTP requests into messages; `container` holds one actix actor per
//! container and the registry that finds them; `daemon` wires the pieces at start-up and
//! re-adopts what a previous daemon left running.

pub mod api;
pub mod config;
pub mod container;
pub mod daemon;
pub mod distribution;
pub mod engine;
pub mod events;
pub mod heap;
pub mod ids;
pub mod registry_server;
pub mod root_lock;
pub mod stats;
pub mod supervision;
