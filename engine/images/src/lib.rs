//! The image service.
