//! Running an export: discovery plus one stream per container, under a stream budget.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::runtime::watcher::Event;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::checkpoint::{Checkpoint, CheckpointStore};
use crate::cursor::Cursor;
use crate::error::{Denial, Error, Permission};
use crate::gap::{Gap, GapReason};
use crate::instance::{Container, ContainerState};
use crate::pods::{list_pods, watch_pods};
use crate::resume::{Plan, Start, Step, deleted_pod_gaps, plan_container};
use crate::selection::{Namespaces, Selection};
use crate::stream::{ExportEvent, Retry, Since, StreamEnd, StreamOptions, StreamReport, stream_container};

/// Options of an export run.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// How logs are read; `stream.follow` selects follow mode (watch pods, never exit by itself).
    pub stream: StreamOptions,
    /// Streams open at once; further containers wait in a queue (never refused).
    pub max_streams: usize,
    /// Batches buffered between the streams and the consumer.
    pub buffer: usize,
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self {
            stream: StreamOptions::default(),
            max_streams: 64,
            buffer: 256,
        }
    }
}

/// Totals of a finished run.
#[derive(Debug, Default, Clone)]
pub struct RunSummary {
    /// Container instances selected.
    pub matched: usize,
    /// Streams that ended with their log read (completed or limit reached).
    pub completed: usize,
    /// Lines delivered.
    pub lines: u64,
    /// Bytes delivered.
    pub bytes: u64,
    /// Containers that had not started (no log yet).
    pub not_started: usize,
    /// Containers whose pod was deleted before its log was read to the end.
    pub pod_deleted: usize,
    /// Containers with no previous instance when `previous` was asked.
    pub no_previous: usize,
    /// Permissions refused while streaming, de-duplicated.
    pub forbidden: Vec<Denial>,
    /// Streams that failed for another reason.
    pub failed: Vec<StreamFailure>,
    /// Lines that could not be exported (rotated away, pod deleted, instances lost).
    pub gaps: Vec<Gap>,
}

impl RunSummary {
    fn record(&mut self, report: &StreamReport) {
        self.gaps.extend(report.gaps.iter().cloned());
        self.lines += report.lines;
        self.bytes += report.bytes;
        match &report.end {
            StreamEnd::Completed | StreamEnd::LimitReached | StreamEnd::PodGone => self.completed += 1,
            StreamEnd::NotStarted => self.not_started += 1,
            StreamEnd::PodDeleted => self.pod_deleted += 1,
            StreamEnd::NoPreviousInstance => self.no_previous += 1,
            StreamEnd::Cancelled => {}
            StreamEnd::Failed(Error::Forbidden { permission, message }) => {
                if !self.forbidden.iter().any(|d| d.permission == *permission) {
                    self.forbidden.push(Denial::new(permission.clone(), message.clone()));
                }
            }
            StreamEnd::Failed(other) => self.failed.push(StreamFailure {
                container: Some(Arc::clone(&report.container)),
                reason: other.to_string(),
            }),
        }
    }
}

/// A stream that failed for good, and why.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StreamFailure {
    /// The container instance, `None` when the stream's task itself failed.
    pub container: Option<Arc<Container>>,
    /// What went wrong.
    pub reason: String,
}

impl std::fmt::Display for StreamFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.container {
            Some(container) => write!(f, "{container}: {}", self.reason),
            None => write!(f, "a stream task: {}", self.reason),
        }
    }
}

/// Discovers the selected containers and streams their logs: the event-level engine under
/// [`Export`](crate::Export), for callers that consume [`ExportEvent`]s themselves.
///
/// ```no_run
/// # async fn demo(client: kube::Client) -> Result<(), kle_core::Error> {
/// use kle_core::Selection;
/// use kle_core::events::{ExportEvent, Exporter};
///
/// let selection = Selection::builder().with_label_selector("app=web").build()?;
/// let mut run = Exporter::new(client, selection).start();
/// while let Some(event) = run.next_event().await {
///     if let ExportEvent::Lines(batch) = event {
///         for line in &batch.lines {
///             println!("{} {}", batch.container, String::from_utf8_lossy(line.message()));
///         }
///     }
/// }
/// let summary = run.finish().await?;
/// println!("{} lines from {} containers", summary.lines, summary.matched);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Exporter {
    client: Client,
    selection: Selection,
    options: ExportOptions,
    checkpoint: Option<Arc<Checkpoint>>,
}

impl Exporter {
    /// An exporter with default options (one-shot, 64 streams).
    pub fn new(client: Client, selection: Selection) -> Self {
        Self {
            client,
            selection,
            options: ExportOptions::default(),
            checkpoint: None,
        }
    }

    /// Sets the options.
    #[must_use]
    pub fn with_options(mut self, options: ExportOptions) -> Self {
        self.options = options;
        self
    }

    /// Resumes from what earlier runs delivered: each recorded instance continues after its
    /// cursor, restarted containers have their previous instance drained first, containers new
    /// since then are read from the checkpoint's origin, and what can no longer be read is
    /// reported as [`ExportEvent::Gap`]. Without a checkpoint, the options' `since`/`tail` apply.
    #[must_use]
    pub fn with_checkpoint(mut self, checkpoint: Checkpoint) -> Self {
        self.checkpoint = Some(Arc::new(checkpoint));
        self
    }

    /// Starts the run in the background; read its events with [`ExportRun::next_event`].
    pub fn start(self) -> ExportRun {
        self.start_with(CancellationToken::new())
    }

    /// As [`start`](Exporter::start), stopped by `cancel`.
    pub(crate) fn start_with(self, cancel: CancellationToken) -> ExportRun {
        let (tx, rx) = mpsc::channel(self.options.buffer.max(1));
        let supervisor = Supervisor {
            semaphore: Arc::new(Semaphore::new(self.options.max_streams.max(1))),
            stream_options: Arc::new(self.options.stream.clone()),
            exporter: self,
            tx,
            cancel: cancel.clone(),
            tasks: JoinSet::new(),
            summary: RunSummary::default(),
        };
        ExportRun {
            events: rx,
            supervisor: tokio::spawn(supervisor.run()),
            cancel,
        }
    }
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter")
            .field("selection", &self.selection)
            .field("options", &self.options)
            .field("checkpoint", &self.checkpoint.as_ref().map(|c| c.len()))
            .finish_non_exhaustive()
    }
}

/// The permissions an export of `selection` needs: list (and `watch` to follow) and get pods,
/// get `pods/log`, per namespace (or cluster-wide for all namespaces); get on each selected
/// workload, and list on Jobs for a CronJob, in each namespace; plus what `checkpoint` needs
/// (a ConfigMap store: its ConfigMap).
pub fn required_permissions(
    selection: &Selection,
    follow: bool,
    checkpoint: Option<&dyn CheckpointStore>,
) -> Vec<Permission> {
    let scopes: Vec<Option<String>> = match selection.namespaces() {
        Namespaces::All => vec![None],
        Namespaces::Only(list) => list.iter().cloned().map(Some).collect(),
    };
    let mut needed = Vec::new();
    for namespace in scopes {
        let mut verbs = vec![("list", "pods"), ("get", "pods"), ("get", "pods/log")];
        if follow {
            verbs.insert(1, ("watch", "pods"));
        }
        needed.extend(verbs.into_iter().map(|(verb, resource)| Permission {
            verb,
            group: "",
            resource,
            namespace: namespace.clone(),
            resource_name: None,
        }));
        for workload in selection.workloads() {
            // `Selection::build` refuses workloads with every namespace.
            for permission in namespace
                .as_deref()
                .map(|ns| workload.permissions(ns))
                .unwrap_or_default()
            {
                if !needed.contains(&permission) {
                    needed.push(permission);
                }
            }
        }
    }
    needed.extend(checkpoint.map(CheckpointStore::permissions).unwrap_or_default());
    needed
}

/// A running export.
#[derive(Debug)]
pub struct ExportRun {
    events: mpsc::Receiver<ExportEvent>,
    supervisor: tokio::task::JoinHandle<Result<RunSummary, Error>>,
    cancel: CancellationToken,
}

impl ExportRun {
    /// The next event; `None` once every stream has ended (or the run failed: see [`ExportRun::finish`]).
    pub async fn next_event(&mut self) -> Option<ExportEvent> {
        self.events.recv().await
    }

    /// A token that stops the run when cancelled: streams end with [`StreamEnd::Cancelled`].
    pub fn cancellation(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Waits for the run to end and returns its totals, or the error that stopped it.
    ///
    /// # Errors
    /// A discovery failure: [`Error::Forbidden`] for pods that may not be listed or watched,
    /// [`Error::RejectedSelector`], [`Error::Api`].
    pub async fn finish(self) -> Result<RunSummary, Error> {
        // Streams blocked on a full channel must see it closed to end.
        drop(self.events);
        match self.supervisor.await {
            Ok(result) => result,
            Err(join) => Err(Error::Protocol {
                action: "running the export".into(),
                message: join.to_string(),
            }),
        }
    }
}

/// Identifies a container instance while following (pod UID, name, container ID).
type InstanceId = (String, String, Option<String>);

/// The container instances a follow has seen, so each is streamed once and, for one container,
/// one instance after the other: lines of a restarted container reach the sink in order.
#[derive(Default)]
struct Instances {
    /// Instances with a stream (running or queued).
    streaming: HashSet<InstanceId>,
    /// Instances whose stream ended: never streamed again.
    done: HashSet<InstanceId>,
    /// A newer instance waiting for the stream of an older one of the same container to end.
    waiting: HashMap<(String, String), Container>,
}

impl Instances {
    fn id(c: &Container) -> InstanceId {
        (c.pod.uid.clone(), c.name.clone(), c.container_id.clone())
    }

    /// Returns the container if its stream may start now; holds it back behind an older instance.
    fn admit(&mut self, container: Container) -> Option<Container> {
        let id = Self::id(&container);
        if self.streaming.contains(&id) || self.done.contains(&id) {
            return None;
        }
        let busy = self
            .streaming
            .iter()
            .any(|(uid, name, _)| *uid == id.0 && *name == id.1);
        if busy {
            self.waiting.insert((id.0, id.1), container);
            return None;
        }
        self.streaming.insert(id);
        Some(container)
    }

    /// Records the end of a stream; returns the instance that was waiting for it, if any.
    fn ended(&mut self, container: &Container, finished: bool) -> Option<Container> {
        let id = Self::id(container);
        self.streaming.remove(&id);
        if finished {
            self.done.insert(id.clone());
        }
        let next = self.waiting.remove(&(id.0, id.1))?;
        self.admit(next)
    }

    fn forget_pod(&mut self, uid: &str) {
        self.done.retain(|(pod_uid, _, _)| pod_uid != uid);
    }
}

struct Supervisor {
    exporter: Exporter,
    semaphore: Arc<Semaphore>,
    stream_options: Arc<StreamOptions>,
    tx: mpsc::Sender<ExportEvent>,
    cancel: CancellationToken,
    tasks: JoinSet<Vec<StreamReport>>,
    summary: RunSummary,
}

impl Supervisor {
    async fn run(mut self) -> Result<RunSummary, Error> {
        let result = if self.stream_options.follow {
            self.follow().await
        } else {
            self.export_once().await
        };
        if result.is_err() {
            self.cancel.cancel();
        }
        while let Some(joined) = self.tasks.join_next().await {
            self.finished(joined).await;
        }
        result.map(|()| self.summary)
    }

    async fn export_once(&mut self) -> Result<(), Error> {
        let pods = list_pods(&self.exporter.client, &self.exporter.selection).await?;
        let mut seen = HashSet::new();
        for pod in &pods {
            seen.extend(pod.metadata.uid.clone());
            for container in self.exporter.selection.containers_of(pod) {
                let plan = plan_container(container, self.exporter.checkpoint.as_deref());
                self.schedule(plan).await;
            }
        }
        self.report_vanished(&seen).await?;
        loop {
            tokio::select! {
                joined = self.tasks.join_next() => match joined {
                    Some(joined) => { self.finished(joined).await; }
                    None => return Ok(()),
                },
                () = self.cancel.cancelled() => return Ok(()),
            }
        }
    }

    /// Reports the recorded pods that no longer exist: a gap for every instance not read to its
    /// end, and the records that can go. A recorded pod that exists but is not selected any
    /// more keeps its records.
    async fn report_vanished(&mut self, seen: &HashSet<String>) -> Result<(), Error> {
        let Some(checkpoint) = self.exporter.checkpoint.clone() else {
            return Ok(());
        };
        let mut missing: Vec<(&str, &str, &str)> = checkpoint
            .entries()
            .filter(|e| !seen.contains(&e.key.pod_uid))
            .map(|e| (e.namespace.as_str(), e.pod.as_str(), e.key.pod_uid.as_str()))
            .collect();
        missing.dedup();
        for (namespace, name, uid) in missing {
            let api: kube::Api<Pod> = kube::Api::namespaced(self.exporter.client.clone(), namespace);
            let current = api.get_opt(name).await.map_err(|e| {
                Error::from_kube(
                    format!("looking up pod {namespace}/{name}"),
                    crate::pods::pods_permission("get", Some(namespace.to_owned())),
                    e,
                )
            })?;
            if current.as_ref().and_then(|p| p.metadata.uid.as_deref()) == Some(uid) {
                continue;
            }
            for gap in deleted_pod_gaps(&checkpoint, uid) {
                self.gap(gap).await;
            }
            for entry in checkpoint.entries().filter(|e| e.key.pod_uid == uid && e.complete) {
                let _ = self.tx.send(ExportEvent::Retired(entry.key.clone())).await;
            }
        }
        Ok(())
    }

    async fn gap(&mut self, gap: Gap) {
        warn!(%gap, "gap in the export");
        self.summary.gaps.push(gap.clone());
        if self.tx.send(ExportEvent::Gap(gap)).await.is_err() {
            self.cancel.cancel();
        }
    }

    async fn follow(&mut self) -> Result<(), Error> {
        let mut watch = watch_pods(&self.exporter.client, &self.exporter.selection);
        let mut instances = Instances::default();
        // since/tail and the checkpoint apply to the containers found at start; later ones are
        // read from their beginning.
        let mut initial = true;
        let mut seen = HashSet::new();
        let mut watch_errors = 0u32;
        loop {
            tokio::select! {
                event = watch.next() => match event {
                    Some(Ok(event)) => {
                        watch_errors = 0;
                        match event {
                            Event::Init => {}
                            Event::InitDone => {
                                if initial {
                                    self.report_vanished(&seen).await?;
                                }
                                initial = false;
                            }
                            Event::InitApply(pod) | Event::Apply(pod) => {
                                if initial {
                                    seen.extend(pod.metadata.uid.clone());
                                }
                                self.reconcile(&pod, initial, &mut instances).await;
                            }
                            Event::Delete(pod) => instances.forget_pod(pod.metadata.uid.as_deref().unwrap_or_default()),
                        }
                    }
                    Some(Err(err)) if fatal_watch_error(&err) => return Err(err),
                    Some(Err(err)) => {
                        watch_errors += 1;
                        warn!(error = %err, attempt = watch_errors, "pod watch failed; retrying with back-off");
                    }
                    None => return Ok(()),
                },
                Some(joined) = self.tasks.join_next(), if !self.tasks.is_empty() => {
                    let next = match &joined {
                        Ok(reports) => reports.last().and_then(|report| {
                            instances.ended(&report.container, !matches!(report.end, StreamEnd::Cancelled))
                        }),
                        Err(_) => None,
                    };
                    self.finished(joined).await;
                    if let Some(next) = next {
                        self.schedule(single(next, Start::From(None))).await;
                    }
                }
                () = self.cancel.cancelled() => return Ok(()),
            }
        }
    }

    async fn reconcile(&mut self, pod: &Pod, initial: bool, instances: &mut Instances) {
        for container in self.exporter.selection.containers_of(pod) {
            if container.state == ContainerState::Waiting {
                continue;
            }
            if let Some(ready) = instances.admit(container) {
                let plan = if initial {
                    plan_container(ready, self.exporter.checkpoint.as_deref())
                } else {
                    single(ready, Start::From(None))
                };
                self.schedule(plan).await;
            }
        }
    }

    /// The stream options of a step: where it starts, and retries for as long as a followed
    /// pod exists.
    fn step_options(&self, start: Start) -> Arc<StreamOptions> {
        let base = &self.stream_options;
        let (since, tail_lines) = match start {
            Start::Options => (base.since, base.tail_lines),
            Start::Cursor(_) => (None, None),
            Start::From(from) => (from.map(Since::Time), None),
        };
        let retry = if base.follow {
            Retry {
                max_attempts: None,
                ..base.retry
            }
        } else {
            base.retry
        };
        if since == base.since && tail_lines == base.tail_lines && retry == base.retry {
            return Arc::clone(base);
        }
        Arc::new(StreamOptions {
            since,
            tail_lines,
            retry,
            ..(**base).clone()
        })
    }

    /// Queues a container's planned streams, run one after the other under one stream slot;
    /// the first starts when a slot is free.
    async fn schedule(&mut self, plan: Plan) {
        for gap in plan.gaps {
            self.gap(gap).await;
        }
        let mut chain = Vec::new();
        for Step { mut container, start } in plan.steps {
            if start == Start::Options && self.stream_options.previous {
                container.previous = true;
            }
            let container = Arc::new(container);
            self.summary.matched += 1;
            if self
                .tx
                .send(ExportEvent::Matched(Arc::clone(&container)))
                .await
                .is_err()
            {
                self.cancel.cancel();
                return;
            }
            if container.state == ContainerState::Waiting && !container.previous {
                debug!(%container, "container has not started; nothing to read");
                let report = empty_report(container, StreamEnd::NotStarted, None);
                self.summary.record(&report);
                let _ = self.tx.send(ExportEvent::Ended(report)).await;
                continue;
            }
            let resume = match start {
                Start::Cursor(cursor) => Some(cursor),
                _ => None,
            };
            // A previous instance planned from the checkpoint must be there; one asked for with
            // --previous may be absent.
            let required = container.previous && start != Start::Options;
            chain.push((container, self.step_options(start), resume, required));
        }
        if chain.is_empty() {
            return;
        }
        let semaphore = Arc::clone(&self.semaphore);
        let client = self.exporter.client.clone();
        let tx = self.tx.clone();
        let cancel = self.cancel.child_token();
        if semaphore.available_permits() == 0 {
            info!(container = %chain[0].0, "stream budget (--max-streams) in use; queued");
        }
        self.tasks.spawn(async move {
            let permit = tokio::select! {
                permit = semaphore.acquire_owned() => permit.ok(),
                () = cancel.cancelled() => None,
            };
            let mut reports = Vec::with_capacity(chain.len());
            let Some(_permit) = permit else {
                reports.extend(
                    chain
                        .into_iter()
                        .map(|(container, _, resume, _)| empty_report(container, StreamEnd::Cancelled, resume)),
                );
                return reports;
            };
            for (container, options, resume, required) in chain {
                if cancel.is_cancelled() {
                    reports.push(empty_report(container, StreamEnd::Cancelled, resume));
                    continue;
                }
                let mut report =
                    stream_container(client.clone(), container, options, resume, tx.clone(), cancel.clone()).await;
                let lost = match report.end {
                    StreamEnd::NoPreviousInstance if required => Some(GapReason::PreviousUnavailable),
                    StreamEnd::PodDeleted => Some(GapReason::PodDeleted),
                    _ => None,
                };
                if let Some(reason) = lost {
                    let gap = Gap {
                        container: Arc::clone(&report.container),
                        reason,
                        after: report.cursor,
                        until: None,
                    };
                    warn!(%gap, "gap in the export");
                    report.gaps.push(gap.clone());
                    let _ = tx.send(ExportEvent::Gap(gap)).await;
                }
                if matches!(report.end, StreamEnd::PodGone) {
                    // Read to its end and gone: its checkpoint record has served its purpose.
                    let _ = tx.send(ExportEvent::Retired(report.container.key())).await;
                }
                reports.push(report);
            }
            reports
        });
    }

    async fn finished(&mut self, joined: Result<Vec<StreamReport>, tokio::task::JoinError>) {
        match joined {
            Ok(reports) => {
                for report in reports {
                    log_end(&report);
                    self.summary.record(&report);
                    let _ = self.tx.send(ExportEvent::Ended(report)).await;
                }
            }
            Err(err) => self.summary.failed.push(StreamFailure {
                container: None,
                reason: err.to_string(),
            }),
        }
    }
}

/// A plan of one stream.
fn single(container: Container, start: Start) -> Plan {
    Plan {
        steps: vec![Step { container, start }],
        gaps: Vec::new(),
    }
}

fn empty_report(container: Arc<Container>, end: StreamEnd, cursor: Option<Cursor>) -> StreamReport {
    StreamReport {
        container,
        end,
        cursor,
        lines: 0,
        bytes: 0,
        reconnects: 0,
        gaps: Vec::new(),
        drained: false,
    }
}

fn fatal_watch_error(err: &Error) -> bool {
    matches!(
        err,
        Error::Forbidden { .. } | Error::RejectedSelector { .. } | Error::NoSuchWorkload { .. }
    )
}

fn log_end(report: &StreamReport) {
    let container = &report.container;
    match &report.end {
        StreamEnd::Failed(err) => warn!(%container, error = %err, "log stream failed"),
        StreamEnd::PodDeleted => {
            info!(%container, lines = report.lines, "pod deleted; stream ended")
        }
        end => {
            debug!(%container, lines = report.lines, bytes = report.bytes, reconnects = report.reconnects, ?end, "log stream ended")
        }
    }
}
