//! ssh_config, as OpenSSH reads it.
