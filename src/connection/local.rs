//! The `local` connection: commands run on the controller through `/bin/sh -c`.

use super::{ConnError, Connection, Output, RemoteCommand, settle_become};
use async_trait::async_trait;
use std::process::Stdio;
use tokio::io::AsyncWriteExt;

#[derive(Debug, Default)]
pub struct Local;

#[async_trait]
impl Connection for Local {
    async fn exec(&self, cmd: &RemoteCommand, stdin: Option<Vec<u8>>) -> Result<Output, ConnError> {
        let text = cmd.shell_text()?;
        let mut input = Vec::new();
        if let Some(pw) = cmd.become_.as_ref().and_then(|b| b.password.as_ref()) {
            input.extend_from_slice(pw.as_bytes());
            input.push(b'\n');
        }
        if let Some(data) = stdin {
            input.extend(data);
        }
        let mut child = tokio::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&text)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        if let Some(mut pipe) = child.stdin.take() {
            // A command that exits without reading its input is not an error.
            let _ = pipe.write_all(&input).await;
            drop(pipe);
        }
        let wait = child.wait_with_output();
        let out = match cmd.timeout {
            Some(t) => tokio::time::timeout(t, wait)
                .await
                .map_err(|_| ConnError::Timeout(t))??,
            None => wait.await?,
        };
        let mut out = Output {
            rc: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: out.stderr,
        };
        settle_become(cmd, &mut out)?;
        Ok(out)
    }

    fn is_local(&self) -> bool {
        true
    }
}
