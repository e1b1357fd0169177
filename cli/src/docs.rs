//! `man` and `completions`: the command line described for the system's tools.

use clap::CommandFactory as _;

use crate::args::Cli;
use crate::failure::Failure;
use crate::output::print_out;

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

/// A completion script for `shell`.
pub(crate) fn completions(shell: clap_complete::Shell) -> Result<u8, Failure> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "kube-log-exporter", &mut script);
    print_out(&script)
}
