//! The clusters of an export: the one of `--context` (or the current context, or the pod's),
//! or several: `--context` given more than once and `--context-regex`. Everything here is
//! decided from the flags and the kubeconfig file, before any cluster is contacted.

use std::collections::BTreeSet;

use kle_auth::{AuthMode, ClientOptions};
use kle_sinks::SinkConfig;
use regex::Regex;

use crate::args::{AuthArg, GlobalArgs};
use crate::failure::Failure;
use crate::settings::ExportSettings;

/// One cluster of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClusterTarget {
    /// The kubeconfig context; `None`: the current one, or the pod's ServiceAccount.
    pub(crate) context: Option<String>,
    /// The name its lines, paths and keys carry; `None`: the run names no cluster.
    pub(crate) name: Option<String>,
}

/// The clusters `args` name, each with its name; one target for a run over one cluster.
pub(crate) fn targets(
    global: &GlobalArgs,
    args: &ExportSettings,
    sink: &SinkConfig,
) -> Result<Vec<ClusterTarget>, Failure> {
    let names = args
        .cluster_names
        .iter()
        .map(|given| ClusterName::parse(given))
        .collect::<Result<Vec<_>, _>>()?;
    let regex = args
        .context_regex
        .as_deref()
        .map(|pattern| {
            Regex::new(pattern).map_err(|err| {
                Failure::Usage(format!(
                    "--context-regex {pattern:?} is not a valid regular expression: {err}"
                ))
            })
        })
        .transpose()?;
    // The kubeconfig is read only when the flags need its contexts: a pod has none.
    let needs_kubeconfig = regex.is_some()
        || global.context.len() > 1
        || (global.context.is_empty() && sink.uses_cluster_placeholder() && names.is_empty());
    let known = if needs_kubeconfig {
        if matches!(global.auth, AuthArg::InCluster) || in_cluster_by_default(global) {
            return Err(Failure::Usage(if regex.is_some() || global.context.len() > 1 {
                "several clusters are read through kubeconfig contexts, and this run uses the pod's \
                 ServiceAccount: run one export per cluster"
                    .into()
            } else {
                "{cluster} needs the cluster's name, and the pod's ServiceAccount has no context to \
                 name it by: give --cluster-name NAME"
                    .into()
            }));
        }
        Some(kle_auth::kubeconfig_contexts(global.kubeconfig.as_deref())?)
    } else {
        None
    };
    let mut contexts: Vec<String> = Vec::new();
    for context in &global.context {
        if let Some(known) = &known
            && !known.names.contains(context)
        {
            return Err(kle_auth::AuthError::UnknownContext {
                context: context.clone(),
                available: known.names.clone(),
            }
            .into());
        }
        if !contexts.contains(context) {
            contexts.push(context.clone());
        }
    }
    if let (Some(regex), Some(known)) = (&regex, &known) {
        let matched: Vec<&String> = known.names.iter().filter(|name| regex.is_match(name)).collect();
        if matched.is_empty() {
            return Err(Failure::Usage(format!(
                "no context of {} matches --context-regex {:?}; its contexts: {}",
                known.path,
                regex.as_str(),
                known.names.join(", ")
            )));
        }
        for name in matched {
            if !contexts.contains(name) {
                contexts.push(name.clone());
            }
        }
    }
    if contexts.len() <= 1 {
        let context = contexts.pop();
        let name = one_name(context.as_deref(), &names)?.or_else(|| {
            // `{cluster}` in a template needs a name even for one cluster: the context's.
            sink.uses_cluster_placeholder()
                .then(|| context.clone().or_else(|| known.as_ref()?.current.clone()))
                .flatten()
        });
        if sink.uses_cluster_placeholder() && name.is_none() {
            return Err(Failure::Usage(
                "{cluster} needs the cluster's name and the kubeconfig has no current context: \
                 give --context or --cluster-name NAME"
                    .into(),
            ));
        }
        if let Some(name) = &name {
            check_name(name, context.as_deref())?;
        }
        return Ok(vec![ClusterTarget { context, name }]);
    }
    several(contexts, &names, args, sink)
}

/// The targets of a run over several clusters, after checking the settings allow one.
fn several(
    contexts: Vec<String>,
    names: &[ClusterName],
    args: &ExportSettings,
    sink: &SinkConfig,
) -> Result<Vec<ClusterTarget>, Failure> {
    let list = contexts.join(", ");
    if args.shards.shards.is_some() {
        return Err(Failure::Usage(format!(
            "a sharded follow reads one cluster, and {} contexts are given ({list}): run one group of \
             replicas per cluster",
            contexts.len()
        )));
    }
    if !matches!(sink, SinkConfig::Stdout(_)) && !sink.splits_by_cluster() {
        let (what, example) = match sink {
            SinkConfig::S3(_) => (
                "the S3 key template",
                "--s3-key-template '{cluster}/{namespace}/{pod}/{container}/{date}/{first_ts}-{last_ts}-{lines}-{hash}'",
            ),
            _ => (
                "the file layout",
                "--layout '{cluster}/{namespace}/{pod}/{container}.log'",
            ),
        };
        return Err(Failure::Usage(format!(
            "{} clusters ({list}) would write to the same {}: put {{cluster}} in {what}, e.g. {example}",
            contexts.len(),
            sink.type_name()
        )));
    }
    if let Some(bare) = names.iter().find(|name| name.context.is_none()) {
        return Err(Failure::Usage(format!(
            "--cluster-name {} names the one cluster of a run; with several contexts ({list}) write \
             CONTEXT=NAME for each one to rename",
            bare.name
        )));
    }
    if let Some(stray) = names
        .iter()
        .find(|name| !contexts.contains(name.context.as_ref().unwrap_or(&name.name)))
    {
        return Err(Failure::Usage(format!(
            "--cluster-name {}={} names a context this run does not read; its contexts: {list}",
            stray.context.as_deref().unwrap_or_default(),
            stray.name
        )));
    }
    let mut seen = BTreeSet::new();
    let mut targets = Vec::with_capacity(contexts.len());
    for context in contexts {
        let name = names
            .iter()
            .rev()
            .find(|name| name.context.as_deref() == Some(context.as_str()))
            .map_or_else(|| context.clone(), |name| name.name.clone());
        check_name(&name, Some(&context))?;
        if !seen.insert(name.clone()) {
            return Err(Failure::Usage(format!(
                "two contexts of this run are both named {name:?}: their lines, files and checkpoints \
                 would mix; give each a name of its own with --cluster-name CONTEXT=NAME"
            )));
        }
        targets.push(ClusterTarget {
            context: Some(context),
            name: Some(name),
        });
    }
    Ok(targets)
}

/// The name `--cluster-name` gives the run's one cluster, reached through `context`.
fn one_name(context: Option<&str>, names: &[ClusterName]) -> Result<Option<String>, Failure> {
    let mut chosen = None;
    for name in names {
        match (&name.context, context) {
            (None, _) => chosen = Some(name.name.clone()),
            (Some(given), Some(context)) if given == context => chosen = Some(name.name.clone()),
            (Some(given), _) => {
                return Err(Failure::Usage(format!(
                    "--cluster-name {given}={} names a context this run does not read ({})",
                    name.name,
                    context.map_or_else(
                        || "it reads the current context".to_owned(),
                        |c| format!("it reads {c}")
                    )
                )));
            }
        }
    }
    Ok(chosen)
}

/// A cluster's name goes into paths, object keys and checkpoint names: letters, digits, `.`,
/// `_` and `-` only, so that two names never become one path.
fn check_name(name: &str, context: Option<&str>) -> Result<(), Failure> {
    let fine = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !matches!(name, "." | "..");
    if fine {
        return Ok(());
    }
    Err(Failure::Usage(match context {
        Some(context) if context == name => format!(
            "the context {name:?} cannot name its cluster in paths and keys (letters, digits, `.`, `_` and \
             `-`, at most 63): give it a name with --cluster-name '{name}=NAME'"
        ),
        _ => format!(
            "the cluster name {name:?} may only have letters, digits, `.`, `_` and `-` (at most 63): it \
             goes into paths, object keys and checkpoint names"
        ),
    }))
}

/// Whether `--auth auto` will use the pod's ServiceAccount (no kubeconfig or context named).
fn in_cluster_by_default(global: &GlobalArgs) -> bool {
    matches!(global.auth, AuthArg::Auto)
        && global.kubeconfig.is_none()
        && global.context.is_empty()
        && ClientOptions::new(AuthMode::Auto).resolved_mode() == AuthMode::InCluster
}

/// `--cluster-name`: `CONTEXT=NAME` or `NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ClusterName {
    context: Option<String>,
    name: String,
}

impl ClusterName {
    fn parse(given: &str) -> Result<Self, Failure> {
        // Context names may hold `=` (rarely); the name never does, so split at the last one.
        let (context, name) = match given.rsplit_once('=') {
            Some((context, name)) => (Some(context.to_owned()), name),
            None => (None, given),
        };
        if name.is_empty() || context.as_deref() == Some("") {
            return Err(Failure::Usage(format!(
                "--cluster-name {given:?}: write CONTEXT=NAME, or NAME for a run's one cluster"
            )));
        }
        Ok(Self {
            context,
            name: name.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(given: &str) -> Result<ClusterName, String> {
        ClusterName::parse(given).map_err(|err| err.to_string())
    }

    #[test]
    fn cluster_names_parse_with_and_without_a_context() {
        assert_eq!(
            parse("prod").unwrap(),
            ClusterName {
                context: None,
                name: "prod".into()
            }
        );
        let arn = parse("arn:aws:eks:eu-west-1:1:cluster/prod=prod-eu").unwrap();
        assert_eq!(
            (arn.context.as_deref(), arn.name.as_str()),
            (Some("arn:aws:eks:eu-west-1:1:cluster/prod"), "prod-eu")
        );
        for bad in ["", "ctx=", "=name"] {
            assert!(parse(bad).unwrap_err().contains("CONTEXT=NAME"), "{bad:?}");
        }
    }

    #[test]
    fn names_must_be_safe_in_paths_and_keys() {
        assert!(check_name("prod-eu_1.a", None).is_ok());
        let err = check_name("arn:aws:eks:x:cluster/prod", Some("arn:aws:eks:x:cluster/prod")).unwrap_err();
        assert!(
            err.to_string()
                .contains("--cluster-name 'arn:aws:eks:x:cluster/prod=NAME'"),
            "{err}"
        );
        assert!(check_name("a/b", None).is_err());
        assert!(check_name("..", None).is_err());
        assert!(check_name(&"x".repeat(64), None).is_err());
    }

    #[test]
    fn one_cluster_takes_a_bare_name_or_its_own_context_s() {
        let names = |list: &[&str]| list.iter().map(|n| ClusterName::parse(n).unwrap()).collect::<Vec<_>>();
        assert_eq!(one_name(Some("a"), &names(&["prod"])).unwrap().as_deref(), Some("prod"));
        assert_eq!(
            one_name(Some("a"), &names(&["a=alpha"])).unwrap().as_deref(),
            Some("alpha")
        );
        assert_eq!(one_name(None, &[]).unwrap(), None);
        let err = one_name(Some("a"), &names(&["b=beta"])).unwrap_err().to_string();
        assert!(err.contains("does not read (it reads a)"), "{err}");
    }
}
