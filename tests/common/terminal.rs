//! Programs on a pseudo-terminal, as a person at a keyboard runs them: prompts for
//! passwords and passphrases only appear when kiln has a controlling terminal.

use std::process::Command;

/// Python's `pty` makes the terminal the child's controlling one (what `/dev/tty` opens);
/// each answer is typed once its prompt has appeared and the program has turned echo off,
/// as a person would type after the prompt.
const DRIVER: &str = r#"
import json, os, pty, sys, termios, time
argv, answers = json.loads(sys.argv[1])
def echo_off(fd):
    deadline = time.time() + 5
    while time.time() < deadline and termios.tcgetattr(fd)[3] & termios.ECHO:
        time.sleep(0.01)
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
seen, mark = b"", 0
while True:
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    seen += data
    if answers and answers[0][0].encode() in seen[mark:]:
        echo_off(fd)
        os.write(fd, (answers.pop(0)[1] + "\n").encode())
        mark = len(seen)
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(seen)
sys.exit(os.waitstatus_to_exitcode(status))
"#;

/// Runs `c` (its program, arguments, environment and directory) on a pseudo-terminal,
/// answering each `(prompt, answer)` in turn. Returns the exit code and everything the
/// terminal showed.
pub fn on_terminal(c: &Command, answers: &[(&str, &str)]) -> (i32, String) {
    let mut argv = vec![c.get_program().to_string_lossy().into_owned()];
    argv.extend(c.get_args().map(|a| a.to_string_lossy().into_owned()));
    let spec = serde_json::json!([argv, answers]);
    let mut driver = Command::new("python3");
    driver.args(["-c", DRIVER, &spec.to_string()]);
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => driver.env(k, v),
            None => driver.env_remove(k),
        };
    }
    if let Some(dir) = c.get_current_dir() {
        driver.current_dir(dir);
    }
    let out = driver.output().expect("python3");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}
