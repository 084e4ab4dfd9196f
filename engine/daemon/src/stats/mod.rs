//! Container stats: one sampler actor for every container.
//!
//! Container actors tell the sampler when their container starts running and when it stops.
//! A pass reads every running container's cgroup files (kept open, read with `pread`, see
//! [`berth_cgroups::OpenStats`]), its network counters and the host's CPU time, in one go.
//! Passes run only when someone asks: once a second while a stream is open, and on demand
//! for single samples. Requests that arrive together share a pass.
//!
//! A sample carries an earlier one as `precpu_stats`, as Docker's does, so that the CPU %
//! can be computed from the two. Docker's earlier sample is its collector's previous tick,
//! a second before; ours is the newest pass at least [`PRIME_INTERVAL`] older, and a single
//! sample (`stream=false`) that has none waits for the pass that makes one so. Never the
//! pass just before: requests for other containers trigger passes too, and two passes a
//! millisecond apart show no CPU time on a busy host (`/proc/stat` counts in 10 ms ticks).

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

/// The shortest time between a sample and the earlier one its CPU usage is computed
/// against; how long a single sample waits when it has none yet.
pub const PRIME_INTERVAL: Duration = Duration::from_millis(100);

/// How often a stream gets a sample, as Docker's.
pub const STREAM_INTERVAL: Duration = Duration::from_secs(1);

/// An earlier pass older than this is not used as `precpu_stats`: the CPU % would be an
/// average over too long a time.
const PREVIOUS_FRESHNESS: Duration = Duration::from_secs(2);

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

/// A sample and when (monotonic) it was taken.
#[derive(Clone)]
struct Taken {
    at: Instant,
    sample: Arc<Sample>,
}

struct Tracked {
    pid: i32,
    host_network: bool,
    cgroup_path: String,
    cgroup: Option<OpenStats>,
    net: Option<KeptFile>,
    last: Option<Taken>,
    /// The sample `precpu_stats` comes from: the newest one at least [`PRIME_INTERVAL`]
    /// older than `last`, or, while there is none, the oldest fresh one, which becomes it.
    baseline: Option<Taken>,
}

impl Tracked {
    fn record(&mut self, new: Taken) {
        // Oldest first: the baseline is never newer than the last sample.
        let fresh = [self.baseline.take(), self.last.take()]
            .into_iter()
            .flatten()
            .filter(|c| new.at.duration_since(c.at) <= PREVIOUS_FRESHNESS);
        let (mut newest_old_enough, mut oldest_too_recent) = (None, None);
        for candidate in fresh {
            if new.at.duration_since(candidate.at) >= PRIME_INTERVAL {
                newest_old_enough = Some(candidate);
            } else if oldest_too_recent.is_none() {
                oldest_too_recent = Some(candidate);
            }
        }
        self.baseline = newest_old_enough.or(oldest_too_recent);
        self.last = Some(new);
    }

    fn forget_samples(&mut self) {
        self.last = None;
        self.baseline = None;
    }

    /// The earlier sample to compute CPU usage against, if there is one far enough back.
    fn previous(&self) -> Option<&Taken> {
        let (last, baseline) = (self.last.as_ref()?, self.baseline.as_ref()?);
        let window = last.at.duration_since(baseline.at);
        (PRIME_INTERVAL..=PREVIOUS_FRESHNESS)
            .contains(&window)
            .then_some(baseline)
    }

    /// When a pass would give this container a sample with a previous one.
    fn previous_due(&self) -> Option<Instant> {
        let oldest = self.baseline.as_ref().or(self.last.as_ref())?;
        Some(oldest.at + PRIME_INTERVAL)
    }

    fn frame(&self, with_previous: bool, machine_memory: u64) -> Option<Frame> {
        let current = self.last.as_ref()?.sample.clone();
        let previous = with_previous
            .then(|| self.previous().map(|p| p.sample.clone()))
            .flatten();
        Some(Frame {
            current,
            previous,
            machine_memory,
        })
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
        let at = Instant::now();
        let Some(hierarchy) = &self.hierarchy else {
            return;
        };
        for (id, tracked) in self.containers.iter_mut() {
            let sampled = sample_one(hierarchy, tracked, read, system_cpu_ns, online_cpus);
            match sampled {
                Ok(sample) => tracked.record(Taken {
                    at,
                    sample: Arc::new(sample),
                }),
                Err(err) => {
                    // The container is exiting (its cgroup is going away) or the files
                    // broke: reopen them next time.
                    tracing::debug!("sampling container {id}: {err}");
                    tracked.cgroup = None;
                    tracked.net = None;
                    tracked.forget_samples();
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
                Some(t) if t.previous().is_some() => Some(t.frame(true, self.machine_memory)),
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
        let primed = self
            .waiters
            .iter()
            .filter_map(|w| self.containers.get(&w.id)?.previous_due())
            .min();
        if let Some(primed) = primed {
            next = Some(next.map_or(primed, |n| n.min(primed)));
        }
        if let Some(at) = next {
            self.schedule(at, ctx);
        }
    }
}

fn sample_one(
    hierarchy: &Hierarchy,
    tracked: &mut Tracked,
    read: DateTime<Utc>,
    system_cpu_ns: u64,
    online_cpus: u32,
) -> Result<Sample, String> {
    if tracked.cgroup.is_none() {
        let opened = OpenStats::open(hierarchy, &tracked.cgroup_path).map_err(|e| e.to_string())?;
        tracked.cgroup = Some(opened);
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
    /// The container's cgroup path (in each hierarchy).
    pub cgroup: String,
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
                cgroup_path: msg.cgroup,
                cgroup: None,
                net: None,
                last: None,
                baseline: None,
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

    /// A sample taken `ms` milliseconds after `start`, its CPU time being `ms` too.
    fn taken(start: Instant, ms: u64) -> Taken {
        Taken {
            at: start + Duration::from_millis(ms),
            sample: Arc::new(Sample {
                read: DateTime::from_timestamp_millis(ms as i64).unwrap(),
                cgroup_version: 2,
                cgroup: CgroupStats::default(),
                system_cpu_ns: ms,
                online_cpus: 1,
                networks: None,
            }),
        }
    }

    fn tracked_with(start: Instant, passes: &[u64]) -> Tracked {
        let mut tracked = Tracked {
            pid: 1,
            host_network: false,
            cgroup_path: "/berth/test".into(),
            cgroup: None,
            net: None,
            last: None,
            baseline: None,
        };
        for &ms in passes {
            tracked.record(taken(start, ms));
        }
        tracked
    }

    fn previous_ms(tracked: &Tracked) -> Option<u64> {
        let frame = tracked.frame(true, 0)?;
        frame.previous.map(|p| p.system_cpu_ns)
    }

    #[test]
    fn cpu_usage_is_never_computed_against_a_pass_just_before() {
        let start = Instant::now();
        let tracked = tracked_with(start, &[0, 1]);
        assert_eq!(previous_ms(&tracked), None, "1 ms is no window");
        assert_eq!(tracked.previous_due(), Some(start + PRIME_INTERVAL));
        let tracked = tracked_with(start, &[0, 1, 50, 100]);
        assert_eq!(previous_ms(&tracked), Some(0), "the first pass waited for");
    }

    #[test]
    fn the_previous_sample_is_the_newest_one_old_enough() {
        let start = Instant::now();
        assert_eq!(
            previous_ms(&tracked_with(start, &[0, 1000, 2000])),
            Some(1000)
        );
        assert_eq!(previous_ms(&tracked_with(start, &[0, 1000, 1050])), Some(0));
        // The stream's pass a second on, shortly after a single sample's extra pass.
        let tracked = tracked_with(start, &[0, 1000, 1050, 2000]);
        assert_eq!(previous_ms(&tracked), Some(1050));
    }

    #[test]
    fn a_stale_previous_sample_is_not_used_for_cpu_usage() {
        let start = Instant::now();
        let tracked = tracked_with(start, &[0, 10_000]);
        assert_eq!(previous_ms(&tracked), None);
        assert_eq!(
            tracked.previous_due(),
            Some(start + Duration::from_secs(10) + PRIME_INTERVAL)
        );
        let frame = tracked_with(start, &[0, 1000]).frame(false, 0).unwrap();
        assert!(frame.previous.is_none(), "one-shot has no previous sample");
        assert!(tracked_with(start, &[]).frame(true, 0).is_none());
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
