//! The name index: containers by ID and name. It owns only the index; each container's
//! state belongs to its own actor.

use std::collections::HashMap;

use actix::prelude::*;

use super::actor::ContainerActor;
use super::error::Error;

#[derive(Default)]
pub struct Names {
    by_id: HashMap<String, Entry>,
    by_name: HashMap<String, String>,
}

struct Entry {
    name: String,
    addr: Option<Addr<ContainerActor>>,
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
}

impl Handler<Register> for Names {
    type Result = ();
    fn handle(&mut self, msg: Register, _: &mut Context<Self>) {
        if let Some(entry) = self.by_id.get_mut(&msg.id) {
            entry.addr = Some(msg.addr);
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

/// Finds a container the way Docker does: full ID, then name, then a unique ID prefix.
#[derive(Message)]
#[rtype(result = "Result<(String, Addr<ContainerActor>), Error>")]
pub struct Lookup(pub String);

impl Handler<Lookup> for Names {
    type Result = Result<(String, Addr<ContainerActor>), Error>;
    fn handle(&mut self, Lookup(query): Lookup, _: &mut Context<Self>) -> Self::Result {
        let not_found = || Error::NoSuchContainer(query.clone());
        if query.is_empty() {
            return Err(not_found());
        }
        let found = |id: &String, entry: &Entry| {
            entry
                .addr
                .clone()
                .map(|addr| (id.clone(), addr))
                .ok_or_else(not_found)
        };
        if let Some(entry) = self.by_id.get(&query) {
            return found(&query, entry);
        }
        let bare = query.strip_prefix('/').unwrap_or(&query);
        if let Some(id) = self.by_name.get(bare) {
            if let Some(entry) = self.by_id.get(id) {
                return found(id, entry);
            }
        }
        let mut matches = self.by_id.iter().filter(|(id, _)| id.starts_with(&query));
        match (matches.next(), matches.next()) {
            (Some((id, entry)), None) => found(id, entry),
            (Some(_), Some(_)) => Err(Error::invalid(format!(
                "multiple IDs found with provided prefix: {query}"
            ))),
            _ => Err(not_found()),
        }
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

/// Every registered container, for listings and counts.
#[derive(Message)]
#[rtype(result = "Vec<Addr<ContainerActor>>")]
pub struct All;

impl Handler<All> for Names {
    type Result = Vec<Addr<ContainerActor>>;
    fn handle(&mut self, _: All, _: &mut Context<Self>) -> Self::Result {
        self.by_id.values().filter_map(|e| e.addr.clone()).collect()
    }
}
