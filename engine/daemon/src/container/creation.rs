//! Creating a container: the image resolved and its layers leased, the configuration
//! merged, the name claimed, the directory prepared, the actor started. A failure at any
//! step undoes the steps before it, in reverse, so a refused create leaves nothing behind
//! (and so does a create whose client went away mid-way: the undo runs when it is dropped).

use std::path::Path;
use std::sync::Arc;

use actix::Actor;
use bollard_stubs::models::ContainerCreateBody;

use super::actor::ContainerActor;
use super::create::{check_supported, merge_config, validate_name};
use super::error::Error;
use super::names::{Register, Reserve, Unregister};
use super::notify;
use super::record::{ContainerDir, ContainerRecord, State};
use super::volumes;
use crate::engine::Services;
use crate::events::Publish;
use crate::ids;

/// A created container: its ID, and Docker's warnings about its configuration.
pub struct Created {
    pub id: String,
    pub warnings: Vec<String>,
}

/// Creates a container from Docker's create body, named `name` or a generated name.
pub async fn create(
    services: &Arc<Services>,
    containers_dir: &Path,
    body: ContainerCreateBody,
    name: Option<&str>,
) -> Result<Created, Error> {
    let mut host_config = body.host_config.clone().unwrap_or_default();
    check_supported(&host_config)?;
    super::defaults::fill(&mut host_config);
    let (network, warnings) =
        crate::network::plan_create(&services.network, &body, &mut host_config)?;
    let image_name = body
        .image
        .clone()
        .filter(|i| !i.is_empty())
        .ok_or_else(|| Error::invalid("config cannot be empty in order to create a container"))?;
    let id = ids::new_container_id();
    let mut undo = Undo::default();

    let images = services.images.clone();
    let (lookup, holder) = (image_name.clone(), id.clone());
    let image = actix_rt::task::spawn_blocking(move || images.lease(&lookup, &holder))
        .await
        .map_err(|err| Error::internal(format!("resolving image: {err}")))?
        .map_err(|err| match err.kind() {
            berth_images::ErrorKind::NotFound => Error::NoSuchImage(image_name.clone()),
            _ => Error::Image(err),
        })?;
    let images = services.images.clone();
    let holder = id.clone();
    undo.push(move || {
        if let Err(err) = images.release(&holder) {
            tracing::warn!("releasing the layers of {holder}: {err}");
        }
    });

    let mut config = merge_config(&body, &image.config, &id)?;
    config.healthcheck =
        crate::health::merge(config.healthcheck.take(), image.healthcheck.as_ref());
    let planned = volumes::plan(services, &host_config, &config).await?;
    let chosen = name.map(validate_name).transpose()?;
    // A generated name may be taken (there are about a thousand): draw again, with more
    // random digits appended each time, as Docker does.
    let mut attempt = 0;
    let name = loop {
        let name = chosen.clone().unwrap_or_else(|| ids::random_name(attempt));
        let reserved = services
            .names
            .send(Reserve {
                id: id.clone(),
                name: name.clone(),
            })
            .await?;
        attempt += 1;
        match reserved {
            Ok(()) => break name,
            Err(err) if chosen.is_some() || attempt == ids::NAME_ATTEMPTS => return Err(err),
            Err(_) => {}
        }
    };
    let names = services.names.clone();
    let holder = id.clone();
    undo.push(move || names.do_send(Unregister { id: holder }));

    let (store, events, holder) = (
        services.volumes.clone(),
        services.events.clone(),
        id.clone(),
    );
    let mount_points =
        actix_rt::task::spawn_blocking(move || volumes::take(&store, &events, &holder, planned))
            .await
            .map_err(|err| Error::internal(format!("taking volumes: {err}")))??;
    let (store, events) = (services.volumes.clone(), services.events.clone());
    let (holder, taken) = (id.clone(), mount_points.clone());
    undo.push(move || volumes::release(&store, &events, &holder, &taken, true));

    let record = ContainerRecord {
        id: id.clone(),
        name,
        created: chrono::Utc::now(),
        image_id: image.id,
        config,
        host_config,
        layers: image.layers,
        mount_points,
        state: State::created(),
        network,
    };
    let dir = ContainerDir::new(containers_dir, &id);
    // Registered before the preparation, which may fail half-way.
    let root = dir.root.clone();
    undo.push(move || {
        if let Err(err) = std::fs::remove_dir_all(&root) {
            if err.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("removing {}: {err}", root.display());
            }
        }
    });
    {
        let record = record.clone();
        let dir = dir.clone();
        // The image's content is copied into empty volumes once the directory exists.
        actix_rt::task::spawn_blocking(move || {
            super::files::prepare(&record, &dir)?;
            volumes::copy_up(&record, &dir)
        })
        .await
        .unwrap_or_else(|err| Err(Error::internal(format!("preparing container: {err}"))))?;
    }

    undo.done();
    services
        .events
        .do_send(Publish(notify::event(&record, "create")));
    let actor = ContainerActor::new(record, dir, services.clone());
    let view = actor.published();
    services.names.do_send(Register {
        id: id.clone(),
        addr: actor.start(),
        view,
    });
    Ok(Created { id, warnings })
}

/// The steps taken so far, undone in reverse when this is dropped before [`Undo::done`].
#[derive(Default)]
struct Undo(Vec<Box<dyn FnOnce()>>);

impl Undo {
    fn push(&mut self, step: impl FnOnce() + 'static) {
        self.0.push(Box::new(step));
    }

    fn done(mut self) {
        self.0.clear();
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        while let Some(step) = self.0.pop() {
            step();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::names::Lookup;
    use crate::container::testing::{self, FakeImages, FakeSupervisor};
    use crate::error::ErrorKind;

    struct Harness {
        tmp: tempfile::TempDir,
        images: Arc<FakeImages>,
        services: Arc<Services>,
    }

    fn harness() -> Harness {
        let tmp = tempfile::tempdir().unwrap();
        let images = Arc::new(FakeImages::default());
        let services = testing::services(
            &tmp.path().join("containers"),
            Arc::new(FakeSupervisor::default()),
            images.clone(),
        );
        Harness {
            tmp,
            images,
            services,
        }
    }

    impl Harness {
        async fn create(&self, image: &str, name: Option<&str>) -> Result<String, Error> {
            self.create_in(&self.tmp.path().join("containers"), image, name)
                .await
        }

        async fn create_in(
            &self,
            dir: &Path,
            image: &str,
            name: Option<&str>,
        ) -> Result<String, Error> {
            let body: ContainerCreateBody =
                serde_json::from_value(serde_json::json!({ "Image": image })).unwrap();
            create(&self.services, dir, body, name)
                .await
                .map(|created| created.id)
        }

        /// Every container directory left in the containers directory.
        fn dirs(&self) -> Vec<String> {
            std::fs::read_dir(self.tmp.path().join("containers"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|name| !name.starts_with('.'))
                .collect()
        }

        fn leases(&self) -> (Vec<String>, Vec<String>) {
            (
                self.images.leased.lock().clone(),
                self.images.released.lock().clone(),
            )
        }
    }

    #[actix_rt::test]
    async fn a_create_leases_the_layers_claims_the_name_and_prepares_the_directory() {
        let h = harness();
        let id = h.create("busybox", Some("web")).await.unwrap();
        let (found, _) = h
            .services
            .names
            .send(Lookup("web".into()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found, id);
        assert_eq!(h.leases(), (vec![id.clone()], vec![]));
        assert_eq!(h.dirs(), std::slice::from_ref(&id));
        let dir = ContainerDir::new(&h.tmp.path().join("containers"), &id);
        assert_eq!(ContainerRecord::load(&dir).unwrap().name, "web");
    }

    #[actix_rt::test]
    async fn a_missing_image_is_dockers_no_such_image_and_leaves_nothing() {
        let h = harness();
        let err = h.create("nope", None).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert_eq!(err.to_string(), "No such image: nope");
        assert_eq!(h.leases(), (vec![], vec![]));
        assert!(h.dirs().is_empty());
    }

    #[actix_rt::test]
    async fn a_configuration_refused_after_the_lease_releases_the_layers() {
        let h = harness();
        let err = h.create("no-cmd", None).await.unwrap_err();
        assert_eq!(err.to_string(), "No command specified");
        let (leased, released) = h.leases();
        assert_eq!(leased.len(), 1);
        assert_eq!(released, leased);
        assert!(h.dirs().is_empty());
    }

    #[actix_rt::test]
    async fn a_taken_name_releases_the_layers_of_the_refused_create() {
        let h = harness();
        let first = h.create("busybox", Some("web")).await.unwrap();
        let err = h.create("busybox", Some("/web")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert!(err.to_string().contains(&first), "{err}");
        let (leased, released) = h.leases();
        assert_eq!(leased.len(), 2);
        assert_eq!(released, [leased[1].clone()]);
        assert_eq!(h.dirs(), [first]);
    }

    #[actix_rt::test]
    async fn a_directory_that_cannot_be_prepared_frees_the_name_and_the_layers() {
        let h = harness();
        let blocked = h.tmp.path().join("a-file");
        std::fs::write(&blocked, b"").unwrap();
        let err = h
            .create_in(&blocked, "busybox", Some("web"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Internal);
        let (leased, released) = h.leases();
        assert_eq!(released, leased);
        // The name is free again.
        h.create("busybox", Some("web")).await.unwrap();
    }

    #[actix_rt::test]
    async fn an_invalid_name_is_refused_before_anything_is_claimed() {
        let h = harness();
        let err = h.create("busybox", Some("-bad")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        let (leased, released) = h.leases();
        assert_eq!(released, leased);
        assert!(h.dirs().is_empty());
    }
}
