//! The `local` connection: commands run on the controller through `/bin/sh -c`.

use super::{ConnError, Connection, Input, Output, RemoteCommand, Sink, settle_become};
use async_trait::async_trait;
use std::process::Stdio;
use tokio::io::AsyncWriteExt;

#[derive(Debug, Default)]
pub struct Local;

#[async_trait]
impl Connection for Local {
    async fn run(
        &self,
        cmd: &RemoteCommand,
        input: Input,
        sink: Sink<'_>,
    ) -> Result<Output, ConnError> {
        let text = cmd.shell_text()?;
        let (head, file) = super::prepare_input(cmd, input).await?;
        let stdout = match sink {
            Sink::Memory => Stdio::piped(),
            Sink::File(path) => Stdio::from(std::fs::File::create(path)?),
        };
        let mut child = tokio::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&text)
            .stdin(Stdio::piped())
            .stdout(stdout)
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let pipe = child.stdin.take();
        let feed = async move {
            let Some(mut pipe) = pipe else {
                return;
            };
            // A command that exits without reading its input is not an error.
            if pipe.write_all(&head).await.is_ok()
                && let Some(mut f) = file
            {
                let _ = tokio::io::copy(&mut f, &mut pipe).await;
            }
        };
        let wait = async {
            let ((), out) = tokio::join!(feed, child.wait_with_output());
            out
        };
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
