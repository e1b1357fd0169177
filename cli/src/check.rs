//! `check`: whether the current identity may run an export with these flags.

use kle_core::required_permissions;

use crate::args::{CheckArgs, GlobalArgs};
use crate::cluster::{connection, selection};
use crate::failure::Failure;
use crate::output::print_out;
use crate::preflight::{review, verdict};

pub(crate) async fn check(global: &GlobalArgs, args: CheckArgs) -> Result<u8, Failure> {
    selection(&args.select, "default")?;
    let connection = connection(global, 1).await?;
    let selection = selection(&args.select, &connection.default_namespace)?;
    let mut needed = required_permissions(&selection, args.follow || args.shards.is_some(), None);
    if args.shards.is_none() {
        needed.extend(args.checkpoint.permissions(&connection.default_namespace));
    }
    if let Some(count) = args.shards {
        let namespace = args.shard_namespace.as_deref().unwrap_or(&connection.default_namespace);
        needed.extend(kle_core::shards::permissions(namespace));
        needed.extend(args.checkpoint.shard_permissions(&connection.default_namespace, count));
    }
    let checks = review(&connection, &needed).await?;
    print_out(kle_auth::render_access_table(&checks).as_bytes())?;
    verdict(&connection, checks, needed).await?;
    print_out(format!("\n{} can run this export.\n", connection.source).as_bytes())
}
