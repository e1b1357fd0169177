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
    let namespace = &connection.default_namespace;
    let needed = match args.shards {
        Some(count) => crate::sharded::permissions(
            &selection,
            &args.checkpoint,
            namespace,
            args.shard_namespace.as_deref(),
            count,
        ),
        None => {
            let mut needed = required_permissions(&selection, args.follow, None);
            needed.extend(args.checkpoint.permissions(namespace));
            needed
        }
    };
    let checks = review(&connection, &needed).await?;
    print_out(kle_auth::render_access_table(&checks).as_bytes())?;
    verdict(&connection, checks, needed).await?;
    print_out(format!("\n{} can run this export.\n", connection.source).as_bytes())
}
