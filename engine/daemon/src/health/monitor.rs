//! The one timer of every healthcheck in the daemon: a heap of when each watched container
//! is next due and a single timer set for the earliest, so that a thousand containers cost
//! one wake-up per check and nothing in between (no task per container ticking).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use chrono::{DateTime, Utc};

use super::{probe, CheckResult, Probe};
use crate::container::actor::ContainerActor;

/// A check's result, for the container's actor to record, with the probe that made it (its
/// retries and start period decide what the result means).
#[derive(Message)]
#[rtype(result = "()")]
pub struct HealthResult(pub CheckResult, pub Arc<Probe>);

/// Start checking container `id` (it started, or a restarted daemon adopted it).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Watch {
    pub id: String,
    pub addr: Addr<ContainerActor>,
    pub probe: Probe,
    pub started_at: DateTime<Utc>,
}

/// Stop checking container `id` (it exited or is removed).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unwatch(pub String);

struct Watched {
    addr: Addr<ContainerActor>,
    /// Shared with every check it runs: nothing of it is copied per check.
    probe: Arc<Probe>,
    started_at: DateTime<Utc>,
    /// Which watch this is: a check due for an earlier run of the container is dropped.
    generation: u64,
}

#[derive(Default)]
pub struct HealthMonitor {
    watched: HashMap<String, Watched>,
    /// When each check is due: (time, generation, container).
    due: BinaryHeap<Reverse<(Instant, u64, String)>>,
    /// The one timer, and when it fires.
    timer: Option<(Instant, SpawnHandle)>,
    generations: u64,
}

impl Actor for HealthMonitor {
    type Context = Context<Self>;
}

impl HealthMonitor {
    fn schedule(&mut self, id: String, generation: u64, at: Instant, ctx: &mut Context<Self>) {
        self.due.push(Reverse((at, generation, id)));
        self.arm(ctx);
    }

    /// Sets the timer for the earliest due check, unless it is set for that already.
    fn arm(&mut self, ctx: &mut Context<Self>) {
        let Some(Reverse((earliest, _, _))) = self.due.peek() else {
            return;
        };
        let earliest = *earliest;
        if let Some((at, handle)) = self.timer {
            if at <= earliest {
                return;
            }
            ctx.cancel_future(handle);
        }
        let delay = earliest.saturating_duration_since(Instant::now());
        let handle = ctx.run_later(delay, |act, ctx| {
            act.timer = None;
            act.fire(ctx);
        });
        self.timer = Some((earliest, handle));
    }

    /// Starts every check that is due; each is scheduled again once it ends.
    fn fire(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        while let Some(Reverse((at, _, _))) = self.due.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((_, generation, id))) = self.due.pop() else {
                break;
            };
            let Some(watched) = self.watched.get(&id).filter(|w| w.generation == generation) else {
                continue;
            };
            let check = probe::run(watched.addr.clone(), id.clone(), watched.probe.clone());
            ctx.spawn(check.into_actor(self).map(move |result, act, ctx| {
                let Some(watched) = act.watched.get(&id).filter(|w| w.generation == generation)
                else {
                    return;
                };
                watched
                    .addr
                    .do_send(HealthResult(result, watched.probe.clone()));
                let delay = watched.probe.next_delay(watched.started_at, Utc::now());
                act.schedule(id, generation, Instant::now() + delay, ctx);
            }));
        }
        self.arm(ctx);
    }
}

impl Handler<Watch> for HealthMonitor {
    type Result = ();

    fn handle(&mut self, msg: Watch, ctx: &mut Context<Self>) {
        self.generations += 1;
        let generation = self.generations;
        let delay = msg.probe.next_delay(msg.started_at, Utc::now());
        self.watched.insert(
            msg.id.clone(),
            Watched {
                addr: msg.addr,
                probe: Arc::new(msg.probe),
                started_at: msg.started_at,
                generation,
            },
        );
        self.schedule(msg.id, generation, Instant::now() + delay, ctx);
    }
}

impl Handler<Unwatch> for HealthMonitor {
    type Result = ();

    /// Its entries in the heap are dropped when they come due.
    fn handle(&mut self, Unwatch(id): Unwatch, _: &mut Context<Self>) {
        self.watched.remove(&id);
    }
}
