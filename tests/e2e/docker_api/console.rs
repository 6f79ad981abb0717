//! `HostConfig.ConsoleSize`: a client may send its terminal's size in the create (the docker
//! CLI does from 23.0; Debian's 20.10 resizes after the start instead, see
//! `docker_cli_terminals_take_the_clients_size`), and the container's terminal has it from
//! the first instruction, before any resize.

use super::*;

/// docker-py, whose `host_config` may be any dict: a create with ConsoleSize and a TTY, no
/// attach and no resize, so the size can only come from the create.
const PY_CONSOLE: &str = r#"
import docker, sys
c = docker.DockerClient(base_url=sys.argv[1])
ctr = c.api.create_container("bb:local", ["stty", "size"], tty=True, name="cs",
                             host_config={"ConsoleSize": [22, 66]})
c.api.start(ctr)
print("exit", c.api.wait(ctr)["StatusCode"])
print("logs", c.api.logs(ctr))
print("size", c.api.inspect_container(ctr)["HostConfig"]["ConsoleSize"])
"#;

#[test]
fn docker_create_console_size_is_the_terminals_first_size() {
    let d = Docker::new();
    assert_eq!(
        d.py(PY_CONSOLE, &[]),
        "exit 0\nlogs b'22 66\\r\\n'\nsize [22, 66]\n"
    );
    // A create with no terminal (the CLI sends [0, 0], or nothing): none is set.
    d.ok(&["create", "--name", "plain", "-t", "bb:local", "true"]);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{json .HostConfig.ConsoleSize}}", "plain"])
            .trim(),
        "[0,0]"
    );
    d.ok(&["rm", "cs", "plain"]);
}
