use std::collections::BTreeSet;

use super::*;

fn members(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

#[test]
fn a_pods_shard_is_stable_and_spread() {
    // Fixed values: a pod's shard must never change between releases.
    assert_eq!(
        Shard::of_pod("2c5ea3a0-7c9b-4c1e-9d0e-9f1b8e6f0a11", 16),
        Shard::of_pod("2c5ea3a0-7c9b-4c1e-9d0e-9f1b8e6f0a11", 16)
    );
    let counts = (0..16_000)
        .map(|i| Shard::of_pod(&format!("00000000-0000-4000-8000-{i:012}"), 16).index())
        .fold([0u32; 16], |mut counts, index| {
            counts[index as usize] += 1;
            counts
        });
    for (index, count) in counts.iter().enumerate() {
        assert!((800..1200).contains(count), "shard {index} got {count} of 16000 pods");
    }
    let shard = Shard::of_pod("abc", 7);
    assert!(shard.holds_pod("abc"));
    assert_eq!(
        Shard::all(7).filter(|s| s.holds_pod("abc")).count(),
        1,
        "one shard holds each pod"
    );
}

#[test]
fn the_hash_is_xxh3_so_it_never_changes() {
    // XXH3-64 of "" is specified; if this changes, every pod's shard would change.
    assert_eq!(xxh3_64(b""), 0x2d06_8005_38d3_94c2);
    assert_eq!(
        Shard::of_pod("", 1000).index(),
        u32::try_from(0x2d06_8005_38d3_94c2_u64 % 1000).unwrap()
    );
}

#[test]
fn every_shard_has_one_owner_and_all_members_agree() {
    let three = members(&["a-1", "b-1", "c-1"]);
    let owned = assignment(32, &three);
    assert_eq!(owned.values().map(Vec::len).sum::<usize>(), 32);
    for (member, shards) in &owned {
        assert!((5..=17).contains(&shards.len()), "{member} owns {} of 32", shards.len());
    }
    let mut shuffled = three.clone();
    shuffled.reverse();
    assert_eq!(
        assignment(32, &shuffled),
        owned,
        "the order of the member list does not matter"
    );
    assert_eq!(owner_of(Shard::new(0, 4).unwrap(), &Vec::<String>::new()), None);
}

/// Shards that change owner between two member lists.
fn moved(count: u32, before: &[String], after: &[String]) -> usize {
    Shard::all(count)
        .filter(|shard| owner_of(*shard, before) != owner_of(*shard, after))
        .count()
}

#[test]
fn rescaling_moves_only_the_shards_it_must() {
    let count = 64;
    let three = members(&["r-a", "r-b", "r-c"]);
    let five = members(&["r-a", "r-b", "r-c", "r-d", "r-e"]);
    let two = members(&["r-a", "r-b"]);
    // Joining: only shards the new members win move, and only to them.
    for shard in Shard::all(count) {
        let (old, new) = (owner_of(shard, &three).unwrap(), owner_of(shard, &five).unwrap());
        assert!(
            old == new || new == "r-d" || new == "r-e",
            "{shard} moved from {old} to {new}"
        );
    }
    // Leaving: only the shards of those who left move.
    for shard in Shard::all(count) {
        let (old, new) = (owner_of(shard, &five).unwrap(), owner_of(shard, &two).unwrap());
        assert!(
            old == new || !two.iter().any(|m| m == old),
            "{shard} moved from {old}, still a member"
        );
    }
    let moved_up = moved(count, &three, &five);
    let owned_by_new = assignment(count, &five)
        .iter()
        .filter(|(m, _)| *m == "r-d" || *m == "r-e")
        .map(|(_, s)| s.len())
        .sum::<usize>();
    assert_eq!(moved_up, owned_by_new, "3 → 5 moves exactly what the new members own");
}

#[test]
fn names_and_counts_are_checked() {
    assert!(ShardGroup::new("logging", "archive", 16).is_ok());
    for bad in ["", "Archive", "-a", "a-", "a_b", &"a".repeat(41)] {
        let err = ShardGroup::new("logging", bad, 16).unwrap_err().to_string();
        assert!(err.contains("lowercase letters"), "{bad:?}: {err}");
    }
    for bad in [0, MAX_SHARDS + 1] {
        let err = ShardGroup::new("logging", "archive", bad).unwrap_err().to_string();
        assert!(err.contains("between 1 and"), "{bad}: {err}");
    }
    assert!(Shard::new(4, 4).is_err());
    let group = ShardGroup::new("logging", "archive", 16).unwrap();
    let shard = Shard::new(3, 16).unwrap();
    assert_eq!(group.shard_lease_name(shard), "archive-shard-3-of-16");
    assert_eq!(shard.to_string(), "shard 3/16");
    let set: BTreeSet<_> = group.permissions().iter().map(|p| p.verb).collect();
    assert_eq!(set, BTreeSet::from(["create", "delete", "get", "list", "update"]));
}

#[test]
fn member_ids_are_dns_labels() {
    let claimant = Claimant::new("Exporter_7f9c.local", 42);
    assert_eq!(member_id(&claimant), "exporter-7f9c-local-42");
    assert_eq!(member_id(&Claimant::new("___", 1)), "replica-1");
}
