//! `kiln vault ACTION`: ansible-vault's command line, and the vault options of `kiln run`,
//! `kiln inventory` and `kiln validate` ([`VaultArgs`]).

use super::{Failure, exit};
use crate::vault::{
    self, Purpose, Secret, SecretSources, Vault, VaultError, VaultSettings, editor, load_secrets,
};
use clap::{Args, Subcommand};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Where the vault passwords come from (the options every command that reads vault data
/// takes, as Ansible's `add_vault_options`).
#[derive(Debug, Clone, Default, Args)]
pub struct VaultArgs {
    /// A vault identity: `label@source` or `source`, the source being a password file, an
    /// executable that prints the password (`*-client` scripts get `--vault-id label`), or
    /// `prompt`; repeatable.
    #[arg(long = "vault-id", value_name = "ID")]
    pub vault_ids: Vec<String>,
    /// A vault password file (or executable); repeatable.
    #[arg(
        long = "vault-password-file",
        visible_alias = "vault-pass-file",
        value_name = "FILE"
    )]
    pub vault_password_files: Vec<PathBuf>,
    /// Ask for the vault password (needs a terminal).
    #[arg(
        short = 'J',
        long = "ask-vault-password",
        visible_alias = "ask-vault-pass"
    )]
    pub ask_vault_pass: bool,
}

fn warn(message: String) {
    eprintln!("[WARNING]: {message}");
}

/// The exit code of a vault error: Ansible's 1, except that a password kiln cannot ask
/// for is an option error (5) as for `-k`/`-K`.
fn vault_failure(e: VaultError) -> Failure {
    let code = match e {
        VaultError::NoTerminal { .. } | VaultError::InvalidVaultId(_) => exit::OPTIONS,
        _ => exit::ERROR,
    };
    Failure::new(code, e.to_string())
}

impl VaultArgs {
    pub fn sources(&self) -> SecretSources {
        SecretSources {
            vault_ids: self.vault_ids.clone(),
            password_files: self.vault_password_files.clone(),
            ask_vault_pass: self.ask_vault_pass,
        }
    }

    /// Reads the secrets (settings from the environment) and makes them the ones the whole
    /// run decrypts with. Without any source that is an empty vault: values are decrypted
    /// only when used, so a run that uses none needs no password.
    pub fn install(&self) -> Result<(), Failure> {
        self.install_with(VaultSettings::from_env())
    }

    /// [`VaultArgs::install`] with given settings (ansible.cfg's, then the environment's).
    pub fn install_with(&self, settings: VaultSettings) -> Result<(), Failure> {
        let secrets = self
            .sources()
            .load(&settings, Purpose::Run, &mut warn)
            .map_err(vault_failure)?;
        vault::install(settings.vault(secrets));
        Ok(())
    }
}

/// `kiln vault`: encrypt, decrypt, view and edit vault files and strings.
#[derive(Debug, Args)]
pub struct VaultCmd {
    #[command(subcommand)]
    pub action: Action,
}

/// Options every action takes.
#[derive(Debug, Args)]
pub struct Common {
    #[command(flatten)]
    pub vault: VaultArgs,
    /// More output (accepted for ansible-vault compatibility).
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Action {
    /// Create a new encrypted file in $EDITOR.
    Create {
        #[command(flatten)]
        common: Common,
        /// The vault id to encrypt with (required when several are given).
        #[arg(long, value_name = "ID")]
        encrypt_vault_id: Option<String>,
        /// Open the editor even when standard output is not a terminal.
        #[arg(long)]
        skip_tty_check: bool,
        #[arg(value_name = "FILE")]
        files: Vec<String>,
    },
    /// Decrypt files (or standard input) in place or to `--output`.
    Decrypt {
        #[command(flatten)]
        common: Common,
        /// Write here instead (`-` for standard output).
        #[arg(long, value_name = "FILE")]
        output: Option<String>,
        #[arg(value_name = "FILE")]
        files: Vec<String>,
    },
    /// Edit an encrypted file in $EDITOR.
    Edit {
        #[command(flatten)]
        common: Common,
        /// Accepted as ansible-vault does; an edited file keeps its vault id.
        #[arg(long, value_name = "ID")]
        encrypt_vault_id: Option<String>,
        #[arg(value_name = "FILE")]
        files: Vec<String>,
    },
    /// Show decrypted files ($PAGER on a terminal).
    View {
        #[command(flatten)]
        common: Common,
        #[arg(value_name = "FILE")]
        files: Vec<String>,
    },
    /// Encrypt files (or standard input) in place or to `--output`.
    Encrypt {
        #[command(flatten)]
        common: Common,
        #[arg(long, value_name = "FILE")]
        output: Option<String>,
        #[arg(long, value_name = "ID")]
        encrypt_vault_id: Option<String>,
        #[arg(value_name = "FILE")]
        files: Vec<String>,
    },
    /// Encrypt strings into `!vault` YAML values.
    #[command(name = "encrypt_string", visible_alias = "encrypt-string")]
    EncryptString {
        #[command(flatten)]
        common: Common,
        #[arg(long, value_name = "FILE")]
        output: Option<String>,
        #[arg(long, value_name = "ID")]
        encrypt_vault_id: Option<String>,
        /// Ask for the string to encrypt.
        #[arg(short = 'p', long)]
        prompt: bool,
        /// Show the string while typing it at the prompt.
        #[arg(long)]
        show_input: bool,
        /// The variable name of each string, in order; repeatable.
        #[arg(short = 'n', long = "name", value_name = "NAME")]
        names: Vec<String>,
        /// The variable name of the string read from standard input.
        #[arg(long, value_name = "NAME")]
        stdin_name: Option<String>,
        #[arg(value_name = "STRING", allow_hyphen_values = true)]
        strings: Vec<String>,
    },
    /// Re-encrypt files with a new password.
    Rekey {
        #[command(flatten)]
        common: Common,
        #[arg(long, value_name = "ID")]
        encrypt_vault_id: Option<String>,
        /// The new password file.
        #[arg(long, value_name = "FILE", conflicts_with = "new_vault_id")]
        new_vault_password_file: Option<PathBuf>,
        /// The new vault identity (`label@source`).
        #[arg(long, value_name = "ID")]
        new_vault_id: Option<String>,
        #[arg(value_name = "FILE")]
        files: Vec<String>,
    },
}

fn options(message: impl Into<String>) -> Failure {
    Failure::new(exit::OPTIONS, message)
}

fn error(message: impl Into<String>) -> Failure {
    Failure::new(exit::ERROR, message)
}

/// Prints a status line on stderr when standard output is a terminal, as ansible-vault.
fn status(message: &str) {
    if std::io::stdout().is_terminal() {
        eprintln!("{message}");
    }
}

/// The path ansible-vault works on: symlinks followed (`-` is standard input/output).
fn real_path(name: &str) -> String {
    if name == "-" {
        return name.to_string();
    }
    std::fs::canonicalize(name)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| vault::unfrack(Path::new(name)).display().to_string())
}

/// `--output` as Ansible takes it: absolute, `-` kept.
fn output_path(o: &Option<String>) -> Option<String> {
    o.as_ref().map(|o| {
        if o == "-" {
            o.clone()
        } else {
            vault::unfrack(Path::new(o)).display().to_string()
        }
    })
}

/// What an encrypting action encrypts with.
struct EncryptWith {
    id: String,
    secret: Secret,
    salt: Option<Vec<u8>>,
}

impl EncryptWith {
    fn encrypt(&self, plaintext: &[u8]) -> Result<String, Failure> {
        vault::encrypt(
            plaintext,
            &self.secret,
            Some(&self.id),
            self.salt.as_deref(),
        )
        .map_err(vault_failure)
    }
}

/// The secret that `encrypt_id` (or the only one) picks from `secrets`, with the configured
/// salt: what create, encrypt, encrypt_string and rekey encrypt with.
fn encrypt_with(
    settings: &VaultSettings,
    secrets: Vec<(String, Secret)>,
    encrypt_id: Option<&str>,
) -> Result<EncryptWith, Failure> {
    let (id, secret) = settings
        .vault(secrets)
        .encrypt_secret(encrypt_id)
        .map_err(vault_failure)?;
    Ok(EncryptWith {
        id,
        secret,
        salt: settings
            .encrypt_salt
            .as_ref()
            .map(|s| s.as_bytes().to_vec()),
    })
}

fn encrypt_secret(
    settings: &VaultSettings,
    common: &Common,
    encrypt_vault_id: &Option<String>,
) -> Result<EncryptWith, Failure> {
    let encrypt_id = encrypt_vault_id
        .clone()
        .or_else(|| settings.encrypt_identity.clone());
    let secrets = common
        .vault
        .sources()
        .load(settings, Purpose::Create, &mut warn)
        .map_err(vault_failure)?;
    if secrets.len() > 1 && encrypt_id.is_none() {
        let ids: Vec<&str> = secrets.iter().map(|(id, _)| id.as_str()).collect();
        return Err(options(format!(
            "The vault-ids {} are available to encrypt. Specify the vault-id to encrypt with --encrypt-vault-id",
            ids.join(",")
        )));
    }
    if secrets.is_empty() {
        return Err(options(
            "A vault password is required to use Ansible's Vault",
        ));
    }
    encrypt_with(settings, secrets, encrypt_id.as_deref())
}

fn read_secrets(settings: &VaultSettings, common: &Common) -> Result<Vault, Failure> {
    let secrets = common
        .vault
        .sources()
        .load(settings, Purpose::Read, &mut warn)
        .map_err(vault_failure)?;
    if secrets.is_empty() {
        return Err(options(
            "A vault password is required to use Ansible's Vault",
        ));
    }
    Ok(settings.vault(secrets))
}

/// Decrypts one input; errors name the file as ansible-vault does (`... for FILE`).
fn decrypt_named(v: &Vault, data: &[u8], name: &str) -> Result<vault::Decrypted, Failure> {
    v.decrypt(data)
        .map_err(|e| error(format!("{e} for {name}")))
}

fn single_output(output: &Option<String>, files: &[String]) -> Result<(), Failure> {
    if output.is_some() && files.len() > 1 {
        return Err(options(
            "At most one input file may be used with the --output option",
        ));
    }
    Ok(())
}

pub fn run(cmd: &VaultCmd) -> Result<String, Failure> {
    let settings = VaultSettings::from_env();
    match &cmd.action {
        Action::Encrypt {
            common,
            output,
            encrypt_vault_id,
            files,
        } => {
            single_output(output, files)?;
            let with = encrypt_secret(&settings, common, encrypt_vault_id)?;
            if files.is_empty() && std::io::stdin().is_terminal() {
                eprintln!("Reading plaintext input from stdin");
            }
            let inputs = if files.is_empty() {
                vec!["-".to_string()]
            } else {
                files.clone()
            };
            let output = output_path(output);
            for f in &inputs {
                let f = real_path(f);
                let plain = editor::read_input(&f).map_err(error)?;
                let text = with.encrypt(&plain)?;
                let target = output.clone().unwrap_or_else(|| f.clone());
                editor::write_output(text.as_bytes(), &target, true).map_err(error)?;
            }
            status("Encryption successful");
            Ok(String::new())
        }
        Action::Decrypt {
            common,
            output,
            files,
        } => {
            single_output(output, files)?;
            let v = read_secrets(&settings, common)?;
            if files.is_empty() && std::io::stdin().is_terminal() {
                eprintln!("Reading ciphertext input from stdin");
            }
            let inputs = if files.is_empty() {
                vec!["-".to_string()]
            } else {
                files.clone()
            };
            let output = output_path(output);
            for f in &inputs {
                let f = real_path(f);
                let data = editor::read_input(&f).map_err(error)?;
                let plain = decrypt_named(&v, &data, &f)?.plaintext;
                let target = output.clone().unwrap_or_else(|| f.clone());
                editor::write_output(&plain, &target, false).map_err(error)?;
            }
            status("Decryption successful");
            Ok(String::new())
        }
        Action::View { common, files } => {
            let v = read_secrets(&settings, common)?;
            for f in files {
                let data = editor::read_input(f).map_err(error)?;
                let plain = decrypt_named(&v, &data, f)?.plaintext;
                editor::page(&String::from_utf8_lossy(&plain)).map_err(error)?;
            }
            Ok(String::new())
        }
        Action::Create {
            common,
            encrypt_vault_id,
            skip_tty_check,
            files,
        } => {
            let [file] = files.as_slice() else {
                return Err(options(
                    "ansible-vault create can take only one filename argument",
                ));
            };
            let with = encrypt_secret(&settings, common, encrypt_vault_id)?;
            if !std::io::stdout().is_terminal() && !skip_tty_check {
                return Err(options("not a tty, editor cannot be opened"));
            }
            create(file, &with)
        }
        Action::Edit { common, files, .. } => {
            let v = read_secrets(&settings, common)?;
            for f in files {
                edit(&v, &settings, f)?;
            }
            Ok(String::new())
        }
        Action::Rekey {
            common,
            encrypt_vault_id,
            new_vault_password_file,
            new_vault_id,
            files,
        } => {
            let v = read_secrets(&settings, common)?;
            let new = new_secret(
                &settings,
                common,
                encrypt_vault_id,
                new_vault_password_file,
                new_vault_id,
            )?;
            for f in files {
                rekey(&v, &new, f)?;
            }
            eprintln!("Rekey successful");
            Ok(String::new())
        }
        Action::EncryptString {
            common,
            output,
            encrypt_vault_id,
            prompt,
            show_input,
            names,
            stdin_name,
            strings,
        } => {
            let read_stdin = strings.iter().any(|s| s == "-")
                || stdin_name.is_some()
                || (strings.is_empty() && !prompt);
            if *prompt && read_stdin {
                return Err(options(
                    "The --prompt option is not supported if also reading input from stdin",
                ));
            }
            let with = encrypt_secret(&settings, common, encrypt_vault_id)?;
            let inputs =
                string_inputs(*prompt, *show_input, read_stdin, stdin_name, names, strings)?;
            let text = format_strings(&with, &inputs)?;
            let target = output_path(output).unwrap_or_else(|| "-".into());
            editor::write_output(text.as_bytes(), &target, true).map_err(error)?;
            status("Encryption successful");
            Ok(String::new())
        }
    }
}

fn create(file: &str, with: &EncryptWith) -> Result<String, Failure> {
    let path = Path::new(file);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        warn(format!("{} does not exist, creating...", dir.display()));
        std::fs::create_dir_all(dir)
            .map_err(|e| error(format!("could not create `{}`: {e}", dir.display())))?;
    }
    if path.is_file() {
        return Err(error(format!("{file} exists, please use 'edit' instead")));
    }
    let ext = extension(path);
    let plain = editor::edit(b"", &ext).map_err(error)?;
    let text = with.encrypt(&plain)?;
    editor::write_output(text.as_bytes(), file, false).map_err(error)?;
    Ok(String::new())
}

fn extension(path: &Path) -> String {
    path.extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default()
}

fn edit(v: &Vault, settings: &VaultSettings, file: &str) -> Result<(), Failure> {
    let real = real_path(file);
    let data = editor::read_input(&real).map_err(error)?;
    let d = decrypt_named(v, &data, &real)?;
    // The file keeps the vault id of its header (not necessarily the id of the secret
    // that decrypted it), and is re-encrypted with the secret that worked.
    let header_id = d
        .header_id
        .clone()
        .unwrap_or_else(|| settings.identity.clone());
    let meta = std::fs::metadata(&real).ok();
    let edited = editor::edit(&d.plaintext, &extension(Path::new(&real))).map_err(error)?;
    if edited == d.plaintext {
        return Ok(());
    }
    let salt = settings
        .encrypt_salt
        .as_ref()
        .map(|s| s.as_bytes().to_vec());
    let text = vault::encrypt(&edited, &d.secret, Some(&header_id), salt.as_deref())
        .map_err(vault_failure)?;
    editor::write_output(text.as_bytes(), &real, false).map_err(error)?;
    if let Some(meta) = meta {
        editor::restore_attributes(Path::new(&real), &meta);
    }
    Ok(())
}

fn new_secret(
    settings: &VaultSettings,
    common: &Common,
    encrypt_vault_id: &Option<String>,
    new_file: &Option<PathBuf>,
    new_id: &Option<String>,
) -> Result<EncryptWith, Failure> {
    let encrypt_id = encrypt_vault_id
        .clone()
        .or_else(|| settings.encrypt_identity.clone());
    // As ansible-vault: the configured identities count only when an encrypt id picks one.
    let mut ids = if encrypt_id.is_some() {
        settings.identity_list.clone()
    } else {
        Vec::new()
    };
    ids.extend(new_id.iter().cloned());
    let files: Vec<PathBuf> = new_file.iter().cloned().collect();
    let secrets = load_secrets(
        settings,
        &ids,
        &files,
        common.vault.ask_vault_pass || settings.ask_vault_pass,
        Purpose::Create,
        &mut warn,
    )
    .map_err(vault_failure)?;
    if secrets.is_empty() {
        return Err(options(
            "A new vault password is required to use Ansible's Vault rekey",
        ));
    }
    encrypt_with(settings, secrets, encrypt_id.as_deref())
}

fn rekey(v: &Vault, new: &EncryptWith, file: &str) -> Result<(), Failure> {
    let real = real_path(file);
    let meta = std::fs::metadata(&real)
        .map_err(|e| error(format!("Unable to read source file ({real}): {e}")))?;
    let data = editor::read_input(&real).map_err(error)?;
    let d = decrypt_named(v, &data, &real)?;
    let text = new.encrypt(&d.plaintext)?;
    editor::write_output(text.as_bytes(), &real, false).map_err(error)?;
    editor::restore_attributes(Path::new(&real), &meta);
    Ok(())
}

/// One string to encrypt: its text, where it came from, its variable name.
struct StringInput {
    text: Vec<u8>,
    from: &'static str,
    name: Option<String>,
}

fn string_inputs(
    prompt: bool,
    show_input: bool,
    read_stdin: bool,
    stdin_name: &Option<String>,
    names: &[String],
    strings: &[String],
) -> Result<Vec<StringInput>, Failure> {
    let mut out = Vec::new();
    if prompt {
        vault::terminal().map_err(|why| {
            options(format!(
                "--prompt needs a terminal to ask for the string: {why}"
            ))
        })?;
        eprint!("Variable name (enter for no name): ");
        let mut name = String::new();
        std::io::stdin()
            .read_line(&mut name)
            .map_err(|e| error(e.to_string()))?;
        let name = name.trim_end_matches(['\r', '\n']).to_string();
        let text = if show_input {
            eprint!("String to encrypt:");
            let mut s = String::new();
            std::io::stdin()
                .read_line(&mut s)
                .map_err(|e| error(e.to_string()))?;
            s.trim_end_matches(['\r', '\n']).to_string()
        } else {
            rpassword::prompt_password("String to encrypt (hidden): ")
                .map_err(|e| error(e.to_string()))?
        };
        if text.is_empty() {
            return Err(options(
                "The plaintext provided from the prompt was empty, not encrypting",
            ));
        }
        out.push(StringInput {
            text: text.into_bytes(),
            from: "the interactive prompt",
            name: (!name.is_empty()).then_some(name),
        });
    }
    if read_stdin {
        if std::io::stdout().is_terminal() {
            eprintln!(
                "Reading plaintext input from stdin. (ctrl-d to end input, twice if your content does not already have a newline)"
            );
        }
        let text = editor::read_input("-").map_err(error)?;
        if text.is_empty() {
            return Err(options("stdin was empty, not encrypting"));
        }
        out.push(StringInput {
            text,
            from: "stdin",
            name: stdin_name.clone(),
        });
    }
    let args: Vec<&String> = strings.iter().filter(|s| *s != "-").collect();
    if !names.is_empty() && args.len() > names.len() {
        // Vague on purpose: never show a plaintext.
        eprintln!("The number of --name options do not match the number of args.");
        if let Some(last) = names.last() {
            eprintln!("The last named variable will be \"{last}\". The rest will not have names.");
        }
    }
    for (i, text) in args.iter().enumerate() {
        if text.is_empty() {
            return Err(options(
                "The plaintext provided from the command line args was empty, not encrypting",
            ));
        }
        out.push(StringInput {
            text: text.as_bytes().to_vec(),
            from: "the command line args",
            name: names.get(i).cloned(),
        });
    }
    Ok(out)
}

/// The `!vault |` blocks, one per string, ready to paste into YAML; with several strings,
/// a comment on stderr tells them apart.
fn format_strings(with: &EncryptWith, inputs: &[StringInput]) -> Result<String, Failure> {
    let mut blocks = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let cipher = with.encrypt(&input.text)?;
        let mut lines = vec![match &input.name {
            Some(n) => format!("{n}: !vault |"),
            None => "!vault |".to_string(),
        }];
        lines.extend(cipher.lines().map(|l| format!("{:10}{l}", "")));
        if inputs.len() > 1 {
            match &input.name {
                Some(n) => eprintln!(
                    "# The encrypted version of variable (\"{n}\", the string #{} from {}).",
                    i + 1,
                    input.from
                ),
                None => eprintln!(
                    "# The encrypted version of the string #{} from {}.)",
                    i + 1,
                    input.from
                ),
            }
        }
        blocks.push(lines.join("\n"));
    }
    blocks.push(String::new());
    Ok(blocks.join("\n"))
}
