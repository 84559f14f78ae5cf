//! known_hosts files, as OpenSSH reads and writes them.
