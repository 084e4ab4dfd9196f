//! Where the containers meet the image store: an image resolved for a container and its
//! layers leased to it, and the lease let go when the container is removed. A trait, so
//! that the container actor and create are unit-tested without a store on disk.

use std::path::PathBuf;

use berth_images::ImageStore;
use oci_spec::image::ImageConfiguration;

/// An image whose layers are leased to a container.
pub struct LeasedImage {
    pub id: String,
    pub config: ImageConfiguration,
    /// Docker's `Healthcheck` of the image's config, if it has one.
    pub healthcheck: Option<serde_json::Value>,
    /// Extracted layers, top-most first.
    pub layers: Vec<PathBuf>,
}

pub trait ImageLeases: Send + Sync {
    /// Resolves `name` (a reference or an ID) and leases its layers to `holder`. The lease
    /// keeps the layers on disk even if the image is removed while the container exists, as
    /// Docker keeps them.
    fn lease(&self, name: &str, holder: &str) -> Result<LeasedImage, berth_images::Error>;
    /// Lets go of every layer leased to `holder`.
    fn release(&self, holder: &str) -> Result<(), berth_images::Error>;
}

impl ImageLeases for ImageStore {
    fn lease(&self, name: &str, holder: &str) -> Result<LeasedImage, berth_images::Error> {
        let image = self.resolve(name)?;
        let layers = self.lease_layers(holder, &image)?;
        Ok(LeasedImage {
            id: image.id.to_string(),
            config: image.config,
            healthcheck: image.healthcheck,
            layers,
        })
    }

    fn release(&self, holder: &str) -> Result<(), berth_images::Error> {
        self.release_layers(holder)
    }
}
