use clap::Parser;
use kiln::cli::{Cli, Command, exit};

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Run(args) => kiln::cli::run::run(args),
        Command::Validate(args) => kiln::cli::validate::run(args),
        Command::Inventory(args) => kiln::cli::inventory::run(args),
        Command::Vault(args) => kiln::cli::vault::run(args),
    };
    match result {
        Ok(out) => {
            if !out.is_empty() {
                println!("{out}");
            }
            std::process::exit(exit::OK);
        }
        Err(failure) => {
            if !failure.message.is_empty() {
                eprintln!("error: {}", failure.message);
            }
            std::process::exit(failure.code);
        }
    }
}
