//! Everything that turns daemon answers into docker-shaped text.

pub mod json;
pub mod tabwriter;
pub mod template;
pub mod units;

pub use template::{Template, TemplateError};
