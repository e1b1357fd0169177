//! What to fetch, decided from the listing alone: the objects of the selected containers in
//! the time range, one of each set of overlapping copies, in order.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use jiff::tz::Offset;
use kle_core::Container;

use super::Filter;
use super::key::ParsedKey;

/// One listed object (or file) whose key the template wrote.
#[derive(Debug, Clone)]
pub(crate) struct Listed {
    /// Its key relative to the prefix (or path relative to the directory).
    pub(crate) key: String,
    pub(crate) size: u64,
    pub(crate) parsed: ParsedKey,
}

/// One container's objects, in the order their lines come.
#[derive(Debug)]
pub(crate) struct ContainerPlan {
    pub(crate) container: Arc<Container>,
    pub(crate) objects: Vec<Listed>,
}

/// What the listing gave: the containers to read, and what was left out and why.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub(crate) containers: Vec<ContainerPlan>,
    /// Objects left out as copies under the overlap rule.
    pub(crate) overlapped: usize,
    /// Objects left out by the time range.
    pub(crate) out_of_range: usize,
}

/// Groups `listed` by container (those the filter selects), keeps of the objects that share a
/// container and a `{first_ts}` the one with the latest `{last_ts}` (then the most lines), and
/// drops the objects entirely outside the time range; containers by namespace, pod and
/// container name, objects by first timestamp.
pub(crate) fn plan(listed: Vec<Listed>, filter: &Filter) -> Plan {
    let mut groups: BTreeMap<_, Vec<Listed>> = BTreeMap::new();
    for object in listed {
        if filter.selects(&object.parsed) {
            let p = &object.parsed;
            let name = |placeholder| p.get(placeholder).unwrap_or_default().to_owned();
            let order = (name("namespace"), name("pod"), name("container"), p.identity.clone());
            groups.entry(order).or_default().push(object);
        }
    }
    let mut plan = Plan::default();
    for (_, mut objects) in groups {
        // Untimed objects (no line had a timestamp) have no place in time: first, by key.
        objects.sort_by(|a, b| {
            (a.parsed.first, Reverse(a.parsed.last), Reverse(a.parsed.lines), &a.key).cmp(&(
                b.parsed.first,
                Reverse(b.parsed.last),
                Reverse(b.parsed.lines),
                &b.key,
            ))
        });
        let before = objects.len();
        objects.dedup_by(|later, kept| later.parsed.first.is_some() && later.parsed.first == kept.parsed.first);
        plan.overlapped += before - objects.len();
        let before = objects.len();
        objects.retain(|object| filter.may_hold_lines_in_range(&object.parsed));
        plan.out_of_range += before - objects.len();
        if let Some(first) = objects.first() {
            plan.containers.push(ContainerPlan {
                container: first.parsed.container(),
                objects,
            });
        }
    }
    plan
}

impl Filter {
    /// Whether the key's container is selected.
    pub(crate) fn selects(&self, key: &ParsedKey) -> bool {
        let name = |placeholder: &str| key.get(placeholder).unwrap_or("_");
        let pod = key.get("pod").or(key.get("pod_uid")).unwrap_or("_");
        let namespace_ok = self
            .namespaces
            .as_ref()
            .is_none_or(|namespaces| namespaces.iter().any(|n| n == name("namespace")));
        namespace_ok
            && self.pod.as_ref().is_none_or(|re| re.is_match(pod))
            && !self.exclude_pods.iter().any(|re| re.is_match(pod))
            && self.container.as_ref().is_none_or(|re| re.is_match(name("container")))
            && !self.exclude_containers.iter().any(|re| re.is_match(name("container")))
    }

    /// Whether an object with this key can hold a line in the time range: its timestamps, or
    /// without them its date, overlap the range. Untimed objects are kept.
    pub(crate) fn may_hold_lines_in_range(&self, key: &ParsedKey) -> bool {
        if let (Some(since), Some(last)) = (self.since, key.last)
            && last < since
        {
            return false;
        }
        if let (Some(until), Some(first)) = (self.until, key.first)
            && first > until
        {
            return false;
        }
        // A file named by its first line's date holds lines of later days too: only a date
        // after the range's end rules it out.
        let day = |t: Timestamp| Offset::UTC.to_datetime(t).date();
        if key.first.is_none()
            && let (Some(date), Some(until)) = (key.date, self.until)
            && date > day(until)
        {
            return false;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::key::{Encoding, Packing};

    fn ts(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_795_000_000 + seconds).unwrap()
    }

    fn object(namespace: &str, pod: &str, first: i64, last: i64, lines: u64) -> Listed {
        let identity = BTreeMap::from([
            ("namespace".to_owned(), namespace.to_owned()),
            ("pod".to_owned(), pod.to_owned()),
            ("container".to_owned(), "app".to_owned()),
        ]);
        Listed {
            key: format!("{namespace}/{pod}/app/{first}-{last}-{lines}"),
            size: 1,
            parsed: ParsedKey {
                identity,
                date: None,
                first: Some(ts(first)),
                last: Some(ts(last)),
                lines: Some(lines),
                hash: None,
                encoding: Some(Encoding::Lines),
                packing: Packing::Zstd,
            },
        }
    }

    fn keys(plan: &Plan) -> Vec<Vec<String>> {
        plan.containers
            .iter()
            .map(|c| c.objects.iter().map(|o| o.key.clone()).collect())
            .collect()
    }

    #[test]
    fn of_the_objects_sharing_a_first_timestamp_the_latest_last_is_kept() {
        let listed = vec![
            object("a", "p", 20, 30, 5),
            object("a", "p", 0, 10, 10),
            object("a", "p", 0, 15, 14),
            object("a", "p", 0, 15, 15),
            object("a", "q", 0, 5, 1),
        ];
        let planned = plan(listed, &Filter::default());
        assert_eq!(
            keys(&planned),
            [vec!["a/p/app/0-15-15", "a/p/app/20-30-5"], vec!["a/q/app/0-5-1"]]
        );
        assert_eq!(planned.overlapped, 2);
    }

    #[test]
    fn selectors_and_the_time_range_prune_before_anything_is_fetched() {
        let listed = vec![
            object("a", "web-1", 0, 10, 1),
            object("a", "web-1", 11, 20, 1),
            object("a", "web-1", 21, 30, 1),
            object("a", "db-0", 0, 10, 1),
            object("b", "web-2", 0, 10, 1),
        ];
        let filter = Filter::builder()
            .with_namespaces(["a"])
            .with_pod("^web")
            .with_since(ts(12))
            .with_until(ts(20))
            .build()
            .unwrap();
        let planned = plan(listed.clone(), &filter);
        assert_eq!(keys(&planned), [vec!["a/web-1/app/11-20-1"]]);
        assert_eq!(planned.out_of_range, 2);

        let filter = Filter::builder()
            .with_exclude_pods(["^web-1$"])
            .with_exclude_containers(["^side"])
            .build()
            .unwrap();
        let planned = plan(listed, &filter);
        assert_eq!(keys(&planned), [vec!["a/db-0/app/0-10-1"], vec!["b/web-2/app/0-10-1"]]);
    }

    #[test]
    fn the_overlap_rule_is_applied_before_the_time_range() {
        // The longer copy reaches into the range: it is the one read, not the shorter.
        let listed = vec![object("a", "p", 0, 10, 10), object("a", "p", 0, 20, 20)];
        let filter = Filter::builder().with_since(ts(15)).build().unwrap();
        assert_eq!(keys(&plan(listed, &filter)), [vec!["a/p/app/0-20-20"]]);
    }
}
