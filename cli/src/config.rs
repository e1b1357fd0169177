//! `config example` and `config check`: configuration files without running anything.

use kle_sinks::{EXAMPLE_CONFIG, ExportConfig};

use crate::args::ConfigCommand;
use crate::failure::Failure;
use crate::output::print_out;

pub(crate) fn config(command: ConfigCommand) -> Result<u8, Failure> {
    match command {
        ConfigCommand::Example => print_out(EXAMPLE_CONFIG.as_bytes()),
        ConfigCommand::Check { file } => {
            let config = ExportConfig::load(&file)?;
            print_out(format!("# {}: ok\n{}", file.display(), config.to_yaml()).as_bytes())
        }
    }
}
