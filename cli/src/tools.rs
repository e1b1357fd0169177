//! The commands around an export: `config`, `man`, `completions`' output, and `--dry-run`.

use clap::CommandFactory as _;
use kle_auth::Connection;
use kle_core::{Selection, list_pods};
use kle_sinks::{EXAMPLE_CONFIG, ExportConfig, SinkConfig};

use crate::args::{Cli, ConfigCommand};
use crate::run::{EXIT_OK, Failure, checkpoint_store, describe_selection};
use crate::settings::ExportSettings;

pub(crate) fn config(command: ConfigCommand) -> Result<u8, Failure> {
    match command {
        ConfigCommand::Example => print_out(EXAMPLE_CONFIG.as_bytes()),
        ConfigCommand::Check { file } => {
            let config = ExportConfig::load(&file)?;
            print_out(format!("# {}: ok\n{}", file.display(), config.to_yaml()).as_bytes())
        }
    }
}

/// Writes `bytes` to stdout; a reader that went away (`| head`) is not an error.
pub(crate) fn print_out(bytes: &[u8]) -> Result<u8, Failure> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Failure::Output(format!("cannot write to standard output: {err}")))
        }
        _ => Ok(EXIT_OK),
    }
}

/// The man page of the command, then one section per subcommand with its flags.
pub(crate) fn man() -> Result<u8, Failure> {
    let mut out = Vec::new();
    let command = Cli::command();
    let write = |out: &mut Vec<u8>, command: clap::Command| clap_mangen::Man::new(command).render(out);
    let mut result = write(&mut out, command.clone());
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("kube-log-exporter-{}", sub.get_name());
        result = result.and_then(|()| write(&mut out, sub.clone().name(name)));
    }
    result.map_err(|err| Failure::Output(format!("cannot render the man page: {err}")))?;
    print_out(&out)
}

/// `--dry-run`: the containers the selection matches now and where their lines would go; pods
/// are listed, no log is read and nothing is written.
pub(crate) async fn dry_run(
    connection: &Connection,
    selection: &Selection,
    sink: &SinkConfig,
    args: &ExportSettings,
) -> Result<u8, Failure> {
    let pods = list_pods(&connection.client, selection).await.map_err(Failure::Core)?;
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
    let checkpoint = match checkpoint_store(args, sink, connection)? {
        Some(store) => store.describe(),
        None => "none".to_owned(),
    };
    out.push_str(&format!(
        "{containers} container(s) would be exported to {}; checkpoint: {checkpoint} (dry run: nothing was read or written)\n",
        sink.type_name()
    ));
    print_out(out.as_bytes())?;
    if containers == 0 {
        return Err(Failure::NothingMatched(describe_selection(selection, &args.select)));
    }
    Ok(EXIT_OK)
}
