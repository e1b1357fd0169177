//! `rbac`: the ServiceAccount, roles and bindings an export with these flags needs.

use kle_auth::{Rbac, Subject};
use kle_core::required_permissions;

use crate::args::RbacArgs;
use crate::cluster::selection;
use crate::failure::{EXIT_OK, Failure};
use crate::output::print_out;

pub(crate) fn rbac(args: RbacArgs) -> Result<u8, Failure> {
    let selection = selection(&args.select, &args.sa_namespace)?;
    let subject = Subject::ServiceAccount {
        name: args.service_account.clone(),
        namespace: args.sa_namespace.clone(),
    };
    let permissions = match args.shards {
        Some(count) => crate::sharded::permissions(
            &selection,
            &args.checkpoint,
            &args.sa_namespace,
            args.shard_namespace.as_deref(),
            count,
        ),
        None => {
            let mut permissions = required_permissions(&selection, args.follow, None);
            permissions.extend(args.checkpoint.permissions(&args.sa_namespace));
            permissions
        }
    };
    print_out(
        Rbac::new(args.service_account, subject, permissions)
            .to_yaml()
            .as_bytes(),
    )?;
    Ok(EXIT_OK)
}
