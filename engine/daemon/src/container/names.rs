//! The name index: containers by ID and name. It owns only the index; each container's
//! state belongs to its own actor.

use std::collections::HashMap;

use actix::prelude::*;

use super::actor::ContainerActor;
use super::error::Error;
use super::published::PublishedView;

#[derive(Default)]
pub struct Names {
    by_id: HashMap<String, Entry>,
    by_name: HashMap<String, String>,
}

struct Entry {
    name: String,
    /// Both unset until the container is registered.
    addr: Option<Addr<ContainerActor>>,
    view: Option<PublishedView>,
}

impl Actor for Names {
    type Context = Context<Self>;
}

fn name_conflict(name: &str, id: &str) -> Error {
    Error::conflict(format!(
        "Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name."
    ))
}

/// Claims a name for a container that is being created.
#[derive(Message)]
#[rtype(result = "Result<(), Error>")]
pub struct Reserve {
    pub id: String,
    pub name: String,
}

impl Handler<Reserve> for Names {
    type Result = Result<(), Error>;
    fn handle(&mut self, msg: Reserve, _: &mut Context<Self>) -> Self::Result {
        if let Some(owner) = self.by_name.get(&msg.name) {
            return Err(name_conflict(&msg.name, owner));
        }
        self.by_name.insert(msg.name.clone(), msg.id.clone());
        self.by_id.insert(
            msg.id,
            Entry {
                name: msg.name,
                addr: None,
                view: None,
            },
        );
        Ok(())
    }
}

/// Makes a created container reachable.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Register {
    pub id: String,
    pub addr: Addr<ContainerActor>,
    pub view: PublishedView,
}

impl Handler<Register> for Names {
    type Result = ();
    fn handle(&mut self, msg: Register, _: &mut Context<Self>) {
        if let Some(entry) = self.by_id.get_mut(&msg.id) {
            entry.addr = Some(msg.addr);
            entry.view = Some(msg.view);
        }
    }
}

/// Forgets a container (removed, or its creation failed).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unregister {
    pub id: String,
}

impl Handler<Unregister> for Names {
    type Result = ();
    fn handle(&mut self, msg: Unregister, _: &mut Context<Self>) {
        if let Some(entry) = self.by_id.remove(&msg.id) {
            self.by_name.remove(&entry.name);
        }
    }
}

impl Names {
    /// Finds a registered container the way Docker does: full ID, then name, then a unique
    /// ID prefix.
    fn resolve(&self, query: &str) -> Result<(&String, &Entry), Error> {
        let not_found = || Error::NoSuchContainer(query.to_string());
        // A container still being created is not found yet.
        fn registered<'a>(
            (id, entry): (&'a String, &'a Entry),
            query: &str,
        ) -> Result<(&'a String, &'a Entry), Error> {
            match entry.addr {
                Some(_) => Ok((id, entry)),
                None => Err(Error::NoSuchContainer(query.to_string())),
            }
        }
        if query.is_empty() {
            return Err(not_found());
        }
        if let Some(found) = self.by_id.get_key_value(query) {
            return registered(found, query);
        }
        let bare = query.strip_prefix('/').unwrap_or(query);
        if let Some(found) = self
            .by_name
            .get(bare)
            .and_then(|id| self.by_id.get_key_value(id))
        {
            return registered(found, query);
        }
        let mut matches = self.by_id.iter().filter(|(id, _)| id.starts_with(query));
        match (matches.next(), matches.next()) {
            (Some(found), None) => registered(found, query),
            (Some(_), Some(_)) => Err(Error::invalid(format!(
                "multiple IDs found with provided prefix: {query}"
            ))),
            _ => Err(not_found()),
        }
    }
}

/// A container's ID and actor, found as [`Names::resolve`] finds it.
#[derive(Message)]
#[rtype(result = "Result<(String, Addr<ContainerActor>), Error>")]
pub struct Lookup(pub String);

impl Handler<Lookup> for Names {
    type Result = Result<(String, Addr<ContainerActor>), Error>;
    fn handle(&mut self, Lookup(query): Lookup, _: &mut Context<Self>) -> Self::Result {
        let (id, entry) = self.resolve(&query)?;
        let addr = entry.addr.clone().ok_or(Error::NoSuchContainer(query))?;
        Ok((id.clone(), addr))
    }
}

/// A container's published state, found as [`Names::resolve`] finds it: for readers that
/// must not wait on the actor.
#[derive(Message)]
#[rtype(result = "Result<PublishedView, Error>")]
pub struct LookupView(pub String);

impl Handler<LookupView> for Names {
    type Result = Result<PublishedView, Error>;
    fn handle(&mut self, LookupView(query): LookupView, _: &mut Context<Self>) -> Self::Result {
        let (_, entry) = self.resolve(&query)?;
        entry.view.clone().ok_or(Error::NoSuchContainer(query))
    }
}

#[derive(Message)]
#[rtype(result = "Result<(), Error>")]
pub struct RenameEntry {
    pub id: String,
    pub new_name: String,
}

impl Handler<RenameEntry> for Names {
    type Result = Result<(), Error>;
    fn handle(&mut self, msg: RenameEntry, _: &mut Context<Self>) -> Self::Result {
        if let Some(owner) = self.by_name.get(&msg.new_name) {
            if *owner != msg.id {
                return Err(name_conflict(&msg.new_name, owner));
            }
            return Ok(());
        }
        let entry = self
            .by_id
            .get_mut(&msg.id)
            .ok_or_else(|| Error::NoSuchContainer(msg.id.clone()))?;
        self.by_name.remove(&entry.name);
        entry.name = msg.new_name.clone();
        self.by_name.insert(msg.new_name, msg.id);
        Ok(())
    }
}

/// Every registered container's actor.
#[derive(Message)]
#[rtype(result = "Vec<Addr<ContainerActor>>")]
pub struct All;

impl Handler<All> for Names {
    type Result = Vec<Addr<ContainerActor>>;
    fn handle(&mut self, _: All, _: &mut Context<Self>) -> Self::Result {
        self.by_id.values().filter_map(|e| e.addr.clone()).collect()
    }
}

/// Every registered container's published state, for listings and counts.
#[derive(Message)]
#[rtype(result = "Vec<PublishedView>")]
pub struct AllViews;

impl Handler<AllViews> for Names {
    type Result = Vec<PublishedView>;
    fn handle(&mut self, _: AllViews, _: &mut Context<Self>) -> Self::Result {
        self.by_id.values().filter_map(|e| e.view.clone()).collect()
    }
}
