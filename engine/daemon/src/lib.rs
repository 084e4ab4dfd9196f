//! berthd: an actor-based daemon serving the Docker Engine API.
//!
//! Layout: `api` turns HTTP requests into messages and domain errors into statuses;
//! `container` holds one actix actor per container and the name index that finds them;
//! `daemon` wires the pieces at start-up and re-adopts what a previous daemon left running.
//!
//! Every module is private: the crate exports what `berthd`, the benches and the fuzz
//! targets use, and no more, so that the compiler sees what nothing uses.

mod api;
mod build;
pub mod config;
mod container;
mod daemon;
mod engine;
mod error;
mod events;
mod filters;
mod health;
mod heap;
mod ids;
mod image_leases;
mod registry_server;
mod root_lock;
mod stats;
mod supervision;
mod supervisor;
mod transfers;

pub use daemon::run;

// The parsers of untrusted input, for the fuzz targets and benches.
pub use api::http::{decode_json, Query};
pub use api::{parse_route, strip_version};
pub use container::create::{check_supported, merge_config, validate_name};
pub use container::exec::console_size;
pub use container::spec::runtime_config;
pub use events::EventFilter;
pub use filters::Filters;

// Container records and their API views, for the benches.
pub use container::record::{ContainerDir, ContainerRecord, State, Status};
pub use container::view;
pub use ids::new_container_id;
