//! `--dry-run`: the containers the selection matches now and where their lines would go; pods
//! are listed, no log is read and nothing is written.

use kle_core::Selection;
use kle_core::checkpoint::CheckpointStore;
use kle_core::discovery::list_pods;
use kle_sinks::SinkConfig;

use crate::args::SelectArgs;
use crate::cluster::describe_selection;
use crate::failure::{EXIT_OK, Failure};
use crate::output::print_out;

pub(crate) async fn dry_run(
    client: &kube::Client,
    selection: &Selection,
    sink: &SinkConfig,
    checkpoint: Option<&dyn CheckpointStore>,
    select: &SelectArgs,
) -> Result<u8, Failure> {
    let pods = list_pods(client, selection).await.map_err(Failure::Core)?;
    let mut containers = 0;
    let mut out = String::new();
    for pod in &pods {
        for container in selection.containers_of(pod) {
            containers += 1;
            let destination = sink.destination(&container)?;
            out.push_str(&format!(
                "{}/{}/{} -> {destination}\n",
                container.namespace(),
                container.pod_name(),
                container.name
            ));
        }
    }
    let checkpoint = checkpoint.map_or_else(|| "none".to_owned(), CheckpointStore::describe);
    out.push_str(&format!(
        "{containers} container(s) would be exported to {}; checkpoint: {checkpoint} (dry run: nothing was read or written)\n",
        sink.type_name()
    ));
    print_out(out.as_bytes())?;
    if containers == 0 {
        return Err(Failure::NothingMatched(describe_selection(selection, select)));
    }
    Ok(EXIT_OK)
}
