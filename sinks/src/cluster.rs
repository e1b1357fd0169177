//! One cluster's share of a sink: the names of the sink's own files when its output is split
//! by `{cluster}`.
//!
//! A run over several clusters (`--context` given more than once) runs one export per cluster,
//! each into a sink of its own, set with [`SinkConfig::with_cluster`](crate::SinkConfig::with_cluster)
//! and a checkpoint of its own. When the layout or key template has `{cluster}`, the sink's
//! own files beside the output (the checkpoint `auto` keeps there, the file sink's length
//! journal) are that cluster's too, so that two clusters' exports never share one.

use crate::layout::safe_component;

/// `base` as one cluster's own file: `.kube-log-exporter-checkpoint.json` becomes
/// `.kube-log-exporter-checkpoint.cluster-prod.json` (the name made one safe path component).
///
/// ```
/// use kle_sinks::cluster::own_file_name;
///
/// assert_eq!(
///     own_file_name(".kube-log-exporter-checkpoint.json", "prod"),
///     ".kube-log-exporter-checkpoint.cluster-prod.json"
/// );
/// assert_eq!(own_file_name("state", "eu/west"), "state.cluster-eu_west");
/// ```
pub fn own_file_name(base: &str, cluster: &str) -> String {
    let cluster = safe_component(cluster);
    // The extension of a name that starts with a dot is after its last dot past the first.
    match base.rfind('.').filter(|&dot| dot > 0) {
        Some(dot) => format!("{}.cluster-{cluster}{}", &base[..dot], &base[dot..]),
        None => format!("{base}.cluster-{cluster}"),
    }
}

/// `name` as a suffix of a Kubernetes object's name: lower case letters, digits and `-`,
/// every other character `-` (`Prod_EU` becomes `prod-eu`).
///
/// ```
/// assert_eq!(kle_sinks::cluster::object_name_suffix("Prod_EU"), "prod-eu");
/// ```
pub fn object_name_suffix(name: &str) -> String {
    let suffix: String = name
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '-',
        })
        .collect();
    suffix.trim_matches('-').to_owned()
}
