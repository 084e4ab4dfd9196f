//! Container stats: one sampler actor for every container.
//!
//! Container actors tell the sampler when their container starts running and when it stops.
//! A pass reads every running container's cgroup files (kept open, read with `pread`, see
//! [`berth_cgroups::OpenStats`]), its network counters and the host's CPU time, in one go.
//! Passes run only when someone asks: once a second while a stream is open, and on demand
//! for single samples. Requests that arrive together share a pass.
//!
//! A single sample (`stream=false`) carries the previous pass as `precpu_stats`, as Docker's
//! does, so that the CPU % can be computed from it. When there is no recent previous pass,
//! a second one follows after [`PRIME_INTERVAL`] instead of Docker's full second.

pub mod host;
pub mod json;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use berth_cgroups::{CgroupStats, Hierarchy, OpenStats};
use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};

use host::{InterfaceCounters, KeptFile};

/// How long after a first pass the second one runs, when a single sample needs a previous
/// one to compute CPU usage against.
pub const PRIME_INTERVAL: Duration = Duration::from_millis(100);

/// How often a stream gets a sample, as Docker's.
pub const STREAM_INTERVAL: Duration = Duration::from_secs(1);

/// A previous pass older than this is not used as `precpu_stats`: the CPU % would be an
/// average over too long a time.
const PREVIOUS_FRESHNESS: chrono::TimeDelta = chrono::TimeDelta::seconds(2);

/// A stream's frames are samples; one the client has not read yet is replaced rather than
/// queued.
const STREAM_BACKLOG: usize = 2;

/// One container's usage at one moment.
#[derive(Debug, Clone)]
pub struct Sample {
    pub read: DateTime<Utc>,
    pub cgroup_version: u8,
    pub cgroup: CgroupStats,
    /// The host's CPU time (ns) and CPU count, read in the same pass.
    pub system_cpu_ns: u64,
    pub online_cpus: u32,
    /// The container's interfaces other than loopback; `None` with the host's network.
    pub networks: Option<BTreeMap<String, InterfaceCounters>>,
}

/// What a request gets: the sample and the previous one (`None` when there is none recent
/// enough, or for one-shot), or `None` when the container is not running.
#[derive(Debug, Clone)]
pub struct Frame {
    pub current: Arc<Sample>,
    pub previous: Option<Arc<Sample>>,
    pub machine_memory: u64,
}

struct Tracked {
    pid: i32,
    host_network: bool,
    cgroup: Option<OpenStats>,
    net: Option<KeptFile>,
    last: Option<Arc<Sample>>,
    previous: Option<Arc<Sample>>,
}

impl Tracked {
    fn frame(&self, with_previous: bool, machine_memory: u64) -> Option<Frame> {
        let current = self.last.clone()?;
        let previous = self
            .previous
            .clone()
            .filter(|p| with_previous && current.read - p.read <= PREVIOUS_FRESHNESS);
        Some(Frame {
            current,
            previous,
            machine_memory,
        })
    }

    fn has_fresh_previous(&self) -> bool {
        matches!((&self.last, &self.previous), (Some(last), Some(prev)) if last.read - prev.read <= PREVIOUS_FRESHNESS)
    }
}

struct Waiter {
    id: String,
    one_shot: bool,
    reply: oneshot::Sender<Option<Frame>>,
}

struct Stream {
    id: String,
    due: Instant,
    tx: mpsc::Sender<Option<Frame>>,
}

pub struct Sampler {
    hierarchy: Option<Hierarchy>,
    proc_stat: Option<KeptFile>,
    machine_memory: u64,
    containers: HashMap<String, Tracked>,
    waiters: Vec<Waiter>,
    streams: Vec<Stream>,
    scheduled: Option<(Instant, SpawnHandle)>,
}

impl Sampler {
    pub fn new(hierarchy: Option<Hierarchy>) -> Sampler {
        let machine_memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| host::parse_mem_total(&text))
            .unwrap_or(0);
        Sampler {
            hierarchy,
            proc_stat: None,
            machine_memory,
            containers: HashMap::new(),
            waiters: Vec::new(),
            streams: Vec::new(),
            scheduled: None,
        }
    }

    fn system_cpu(&mut self) -> (u64, u32) {
        if self.proc_stat.is_none() {
            match KeptFile::open("/proc/stat") {
                Ok(file) => self.proc_stat = Some(file),
                Err(err) => {
                    tracing::warn!("{err}");
                    return (0, 0);
                }
            }
        }
        let Some(file) = self.proc_stat.as_mut() else {
            return (0, 0);
        };
        let path = file.path().to_path_buf();
        match file.read().map(host::parse_proc_stat) {
            Ok(Ok(values)) => values,
            Ok(Err(reason)) => {
                tracing::warn!("parsing {}: {reason}", path.display());
                (0, 0)
            }
            Err(err) => {
                tracing::warn!("{err}");
                (0, 0)
            }
        }
    }

    /// One pass over every running container.
    fn pass(&mut self) {
        let (system_cpu_ns, online_cpus) = self.system_cpu();
        let read = Utc::now();
        let Some(hierarchy) = &self.hierarchy else {
            return;
        };
        for (id, tracked) in self.containers.iter_mut() {
            let sampled = sample_one(hierarchy, id, tracked, read, system_cpu_ns, online_cpus);
            match sampled {
                Ok(sample) => {
                    tracked.previous = tracked.last.replace(Arc::new(sample));
                }
                Err(err) => {
                    // The container is exiting (its cgroup is going away) or the files
                    // broke: reopen them next time.
                    tracing::debug!("sampling container {id}: {err}");
                    tracked.cgroup = None;
                    tracked.net = None;
                    tracked.previous = None;
                    tracked.last = None;
                }
            }
        }
    }

    /// Answers every waiter the last pass satisfied; keeps the others for the next one.
    fn serve(&mut self) {
        let now = Instant::now();
        let waiters = std::mem::take(&mut self.waiters);
        for waiter in waiters {
            let tracked = self.containers.get(&waiter.id);
            let answer = match tracked {
                None => Some(None),
                Some(t) if t.last.is_none() => Some(None),
                Some(t) if waiter.one_shot => Some(t.frame(false, self.machine_memory)),
                Some(t) if t.has_fresh_previous() => Some(t.frame(true, self.machine_memory)),
                Some(_) => None,
            };
            match answer {
                Some(frame) => {
                    let _ = waiter.reply.send(frame);
                }
                None => self.waiters.push(waiter),
            }
        }
        let machine_memory = self.machine_memory;
        let containers = &self.containers;
        self.streams.retain_mut(|stream| {
            if stream.due > now + Duration::from_millis(10) {
                return !stream.tx.is_closed();
            }
            stream.due = now + STREAM_INTERVAL;
            let frame = containers
                .get(&stream.id)
                .and_then(|t| t.frame(true, machine_memory));
            !matches!(
                stream.tx.try_send(frame),
                Err(mpsc::error::TrySendError::Closed(_))
            )
        });
    }

    fn schedule(&mut self, at: Instant, ctx: &mut Context<Self>) {
        if let Some((when, _)) = &self.scheduled {
            if *when <= at {
                return;
            }
        }
        if let Some((_, handle)) = self.scheduled.take() {
            ctx.cancel_future(handle);
        }
        let delay = at.saturating_duration_since(Instant::now());
        let handle = ctx.run_later(delay, |act, ctx| {
            act.scheduled = None;
            act.pass();
            act.serve();
            act.schedule_next(ctx);
        });
        self.scheduled = Some((at, handle));
    }

    fn schedule_next(&mut self, ctx: &mut Context<Self>) {
        let mut next = self.streams.iter().map(|s| s.due).min();
        if !self.waiters.is_empty() {
            let primed = Instant::now() + PRIME_INTERVAL;
            next = Some(next.map_or(primed, |n| n.min(primed)));
        }
        if let Some(at) = next {
            self.schedule(at, ctx);
        }
    }
}

fn sample_one(
    hierarchy: &Hierarchy,
    id: &str,
    tracked: &mut Tracked,
    read: DateTime<Utc>,
    system_cpu_ns: u64,
    online_cpus: u32,
) -> Result<Sample, String> {
    if tracked.cgroup.is_none() {
        let path = crate::container::spec::cgroup_path(id);
        tracked.cgroup = Some(OpenStats::open(hierarchy, &path).map_err(|e| e.to_string())?);
    }
    let cgroup = tracked
        .cgroup
        .as_mut()
        .expect("opened above")
        .sample()
        .map_err(|e| e.to_string())?;
    let networks = if tracked.host_network {
        None
    } else {
        if tracked.net.is_none() {
            let path = format!("/proc/{}/net/dev", tracked.pid);
            tracked.net = Some(KeptFile::open(path).map_err(|e| e.to_string())?);
        }
        let file = tracked.net.as_mut().expect("opened above");
        let path = file.path().display().to_string();
        let text = file.read().map_err(|e| e.to_string())?;
        let interfaces =
            host::parse_net_dev(text).map_err(|reason| format!("parsing {path}: {reason}"))?;
        // Docker leaves `networks` out when the container has no network of its own.
        (!interfaces.is_empty()).then_some(interfaces)
    };
    Ok(Sample {
        read,
        cgroup_version: hierarchy.version(),
        cgroup,
        system_cpu_ns,
        online_cpus,
        networks,
    })
}

impl Actor for Sampler {
    type Context = Context<Self>;
}

/// A container started running (or was adopted after a daemon restart).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Track {
    pub id: String,
    pub pid: i32,
    pub host_network: bool,
}

impl Handler<Track> for Sampler {
    type Result = ();
    fn handle(&mut self, msg: Track, _: &mut Context<Self>) {
        self.containers.insert(
            msg.id,
            Tracked {
                pid: msg.pid,
                host_network: msg.host_network,
                cgroup: None,
                net: None,
                last: None,
                previous: None,
            },
        );
    }
}

/// A container stopped running: its files are closed; its streams go on with empty stats.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Untrack {
    pub id: String,
}

impl Handler<Untrack> for Sampler {
    type Result = ();
    fn handle(&mut self, msg: Untrack, _: &mut Context<Self>) {
        self.containers.remove(&msg.id);
    }
}

/// A container was removed: its streams end.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Forget {
    pub id: String,
}

impl Handler<Forget> for Sampler {
    type Result = ();
    fn handle(&mut self, msg: Forget, _: &mut Context<Self>) {
        self.containers.remove(&msg.id);
        self.streams.retain(|s| s.id != msg.id);
    }
}

/// One sample of a container: with a recent previous one for `precpu_stats`, or without
/// (`one_shot`).
#[derive(Message)]
#[rtype(result = "oneshot::Receiver<Option<Frame>>")]
pub struct Once {
    pub id: String,
    pub one_shot: bool,
}

impl Handler<Once> for Sampler {
    type Result = MessageResult<Once>;
    fn handle(&mut self, msg: Once, ctx: &mut Context<Self>) -> Self::Result {
        let (reply, rx) = oneshot::channel();
        if !self.containers.contains_key(&msg.id) {
            let _ = reply.send(None);
            return MessageResult(rx);
        }
        self.waiters.push(Waiter {
            id: msg.id,
            one_shot: msg.one_shot,
            reply,
        });
        self.schedule(Instant::now(), ctx);
        MessageResult(rx)
    }
}

/// A sample of a container every [`STREAM_INTERVAL`], the first one at once; `None`
/// frames while it is not running. Ends when the container is removed.
#[derive(Message)]
#[rtype(result = "mpsc::Receiver<Option<Frame>>")]
pub struct Watch {
    pub id: String,
}

impl Handler<Watch> for Sampler {
    type Result = MessageResult<Watch>;
    fn handle(&mut self, msg: Watch, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = mpsc::channel(STREAM_BACKLOG);
        let now = Instant::now();
        self.streams.push(Stream {
            id: msg.id,
            due: now,
            tx,
        });
        self.schedule(now, ctx);
        MessageResult(rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_at(seconds: i64) -> Arc<Sample> {
        Arc::new(Sample {
            read: DateTime::from_timestamp(seconds, 0).unwrap(),
            cgroup_version: 2,
            cgroup: CgroupStats::default(),
            system_cpu_ns: 0,
            online_cpus: 1,
            networks: None,
        })
    }

    fn tracked(last: Option<i64>, previous: Option<i64>) -> Tracked {
        Tracked {
            pid: 1,
            host_network: false,
            cgroup: None,
            net: None,
            last: last.map(sample_at),
            previous: previous.map(sample_at),
        }
    }

    #[test]
    fn a_stale_previous_sample_is_not_used_for_cpu_usage() {
        assert!(tracked(Some(100), Some(99)).has_fresh_previous());
        assert!(!tracked(Some(100), Some(10)).has_fresh_previous());
        assert!(!tracked(Some(100), None).has_fresh_previous());
        let frame = tracked(Some(100), Some(10)).frame(true, 0).unwrap();
        assert!(frame.previous.is_none());
        let frame = tracked(Some(100), Some(99)).frame(false, 0).unwrap();
        assert!(frame.previous.is_none(), "one-shot has no previous sample");
        assert!(tracked(None, None).frame(true, 0).is_none());
    }

    #[actix_rt::test]
    async fn a_container_that_is_not_running_gets_no_sample() {
        let sampler = Sampler::new(None).start();
        let rx = sampler
            .send(Once {
                id: "nope".into(),
                one_shot: false,
            })
            .await
            .unwrap();
        assert!(rx.await.unwrap().is_none());
    }
}
