//! What every command that talks to the cluster builds first: the connection and the selection.

use kle_auth::{AuthMode, ClientOptions, Connection, connect};
use kle_core::container::StateFilter;
use kle_core::{Namespaces, Selection, WorkloadRef};

use crate::args::{AuthArg, ContainerStateArg, GlobalArgs, SelectArgs};
use crate::failure::Failure;

/// A client for `streams` log streams open at once (1 for commands that stream nothing).
pub(crate) async fn connection(global: &GlobalArgs, streams: usize) -> Result<Connection, Failure> {
    let mode = match global.auth {
        AuthArg::Auto => AuthMode::Auto,
        AuthArg::Kubeconfig => AuthMode::Kubeconfig,
        AuthArg::InCluster => AuthMode::InCluster,
    };
    let version = global.http_version.map(Into::into).unwrap_or_default();
    let mut options = ClientOptions::new(mode)
        .with_concurrent_streams(streams)
        .with_http_version(version);
    if let Some(path) = &global.kubeconfig {
        options = options.with_kubeconfig(path);
    }
    match global.context.as_slice() {
        [] => {}
        [context] => options = options.with_context(context),
        several => {
            return Err(Failure::Usage(format!(
                "{} contexts given ({}): only export and follow read several clusters in one run; \
                 give one --context",
                several.len(),
                several.join(", ")
            )));
        }
    }
    Ok(connect(&options).await?)
}

/// The selection the flags describe; `default_namespace` when no `-n`/`-A` was given.
pub(crate) fn selection(args: &SelectArgs, default_namespace: &str) -> Result<Selection, Failure> {
    let namespaces = if args.all_namespaces {
        Namespaces::All
    } else if args.namespaces.is_empty() {
        Namespaces::Only(vec![default_namespace.to_owned()])
    } else {
        Namespaces::Only(args.namespaces.clone())
    };
    let mut builder = Selection::builder()
        .with_namespaces(namespaces)
        .with_init_containers(args.init_containers)
        .with_ephemeral_containers(args.ephemeral_containers);
    if let Some(selector) = &args.selector {
        builder = builder.with_label_selector(selector);
    }
    if let Some(selector) = &args.field_selector {
        builder = builder.with_field_selector(selector);
    }
    let (workloads, patterns): (Vec<&String>, Vec<&String>) =
        args.query.iter().partition(|query| WorkloadRef::is_reference(query));
    for workload in workloads {
        builder = builder.with_workload(workload.parse().map_err(Failure::Core)?);
    }
    match patterns.as_slice() {
        [] => {}
        [pattern] => builder = builder.with_pod_query(pattern.as_str()),
        many => {
            return Err(Failure::Usage(format!(
                "{} pod-name patterns given ({}): give one regular expression (alternatives with |), \
                 or workloads as KIND/NAME",
                many.len(),
                many.iter().map(|p| format!("{p:?}")).collect::<Vec<_>>().join(", ")
            )));
        }
    }
    if let Some(node) = &args.node {
        builder = builder.with_node(node);
    }
    if let Some(state) = args.container_state {
        builder = builder.with_container_state(state_filter(state));
    }
    if let Some(container) = &args.container {
        builder = builder.with_containers(container);
    }
    for pattern in &args.exclude_pod {
        builder = builder.with_exclude_pod(pattern);
    }
    for pattern in &args.exclude_container {
        builder = builder.with_exclude_containers(pattern);
    }
    builder.build().map_err(Failure::Core)
}

/// `in namespace(s) shop with labels app=web`, for "no container matched ...".
pub(crate) fn describe_selection(selection: &Selection, args: &SelectArgs) -> String {
    let mut parts = vec![match selection.namespaces() {
        Namespaces::All => "in any namespace".to_owned(),
        Namespaces::Only(list) => format!("in namespace(s) {}", list.join(", ")),
    }];
    if let Some(s) = &args.selector {
        parts.push(format!("with labels {s}"));
    }
    if let Some(s) = &args.field_selector {
        parts.push(format!("with fields {s}"));
    }
    for workload in selection.workloads() {
        parts.push(format!("of {workload}"));
    }
    for q in args.query.iter().filter(|q| !WorkloadRef::is_reference(q)) {
        parts.push(format!("in pods matching /{q}/"));
    }
    if let Some(node) = &args.node {
        parts.push(format!("on node {node}"));
    }
    if let Some(state) = args.container_state.filter(|s| *s != ContainerStateArg::All) {
        parts.push(format!("in state {}", state_filter(state).name()));
    }
    if let Some(c) = &args.container {
        parts.push(format!("named like /{c}/"));
    }
    parts.join(" ")
}

fn state_filter(state: ContainerStateArg) -> StateFilter {
    match state {
        ContainerStateArg::Running => StateFilter::Running,
        ContainerStateArg::Waiting => StateFilter::Waiting,
        ContainerStateArg::Terminated => StateFilter::Terminated,
        ContainerStateArg::All => StateFilter::All,
    }
}
