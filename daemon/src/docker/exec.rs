//! Exec instances: `POST /containers/{id}/exec`, `POST /exec/{id}/start` (hijacked, with or
//! without a terminal, or detached), `POST /exec/{id}/resize`, `GET /exec/{id}/json`.
//!
//! The process is started as berth's own `exec` and health probes start theirs: the exec
//! helper, from the daemon's sealed copy of the binary, enters the container with its user,
//! environment, capabilities, cgroup and seccomp filter (berth_engine::runtime::exec). Its
//! stdio are pipes the daemon relays onto the hijacked connection, framed as Docker's
//! multiplexed stream; with a terminal, a host pty whose size follows `resize` (the helper
//! copies it onto the container's own terminal on SIGWINCH).

use super::super::containers::Ctr;
use super::super::http::{self, ApiError, ApiResult, Query};
use super::stream::{self, Conn, STDERR, STDOUT};
use super::Door;
use berth_engine::container::Status;
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

// `Detach` is only read so that clients may send it: start decides (`StartBody`).
#[allow(dead_code)]
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub struct ExecConfig {
    pub attach_stdin: Option<bool>,
    pub attach_stdout: Option<bool>,
    pub attach_stderr: Option<bool>,
    pub detach_keys: Option<String>,
    pub detach: Option<bool>,
    /// Old ExecConfig's, still sent by docker-py: the path names the container.
    pub container: Option<String>,
    pub tty: Option<bool>,
    pub console_size: Option<Vec<u16>>,
    pub env: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub privileged: Option<bool>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct StartBody {
    detach: Option<bool>,
    tty: Option<bool>,
    console_size: Option<Vec<u16>>,
}

#[derive(Default)]
struct State {
    started: bool,
    running: bool,
    exit_code: Option<i32>,
    pid: i32,
    pty: Option<Arc<AsyncFd<OwnedFd>>>,
}

pub struct Exec {
    id: String,
    container: String,
    config: ExecConfig,
    state: Mutex<State>,
}

#[derive(Default)]
pub struct Registry(Mutex<HashMap<String, Arc<Exec>>>);

impl Registry {
    fn get(&self, id: &str) -> Result<Arc<Exec>, ApiError> {
        let map = self.0.lock().expect("exec map");
        map.get(id)
            .cloned()
            .or_else(|| {
                let m: Vec<_> = map.values().filter(|e| e.id.starts_with(id)).collect();
                (m.len() == 1 && id.len() >= 3).then(|| m[0].clone())
            })
            .ok_or_else(|| ApiError::not_found(format!("No such exec instance: {id}")))
    }

    /// The running execs of a container (inspect's ExecIDs).
    pub fn of_container(&self, container: &str) -> Option<Vec<String>> {
        let ids: Vec<String> = self
            .0
            .lock()
            .expect("exec map")
            .values()
            .filter(|e| e.container == container && e.state.lock().expect("exec").running)
            .map(|e| e.id.clone())
            .collect();
        (!ids.is_empty()).then_some(ids)
    }

    fn insert(&self, e: Arc<Exec>) {
        let mut map = self.0.lock().expect("exec map");
        // Finished execs are kept for their exit code; the oldest go past a bound.
        if map.len() >= 1024 {
            let done: Vec<String> = map
                .iter()
                .filter(|(_, e)| !e.state.lock().expect("exec").running)
                .map(|(k, _)| k.clone())
                .take(256)
                .collect();
            for k in done {
                map.remove(&k);
            }
        }
        map.insert(e.id.clone(), e);
    }
}

pub async fn create(door: &Door, ctr: &Arc<Ctr>, req: Request<Incoming>) -> ApiResult {
    let config: ExecConfig = super::read_json(req).await?;
    if config.cmd.as_ref().is_none_or(|c| c.is_empty()) {
        return Err(ApiError::bad_request("No exec command specified"));
    }
    let status = ctr.rec.lock().await.state.status;
    if status == Status::Paused {
        return Err(ApiError::conflict(format!(
            "Container {} is paused, unpause the container before exec",
            ctr.id
        )));
    }
    if status != Status::Running {
        return Err(ApiError::conflict(format!(
            "Container {} is not running",
            ctr.id
        )));
    }
    let e = Arc::new(Exec {
        id: berth_engine::fsutil::new_id(),
        container: ctr.id.clone(),
        config,
        state: Default::default(),
    });
    let id = e.id.clone();
    door.execs.insert(e);
    let mut reply = http::json(&json!({ "Id": id }))?;
    *reply.status_mut() = StatusCode::CREATED;
    Ok(reply)
}

pub async fn route(
    door: &Arc<Door>,
    m: &Method,
    segs: &[&str],
    q: &Query,
    req: Request<Incoming>,
) -> ApiResult {
    match (m, segs) {
        (&Method::POST, [id, "start"]) => {
            let e = door.execs.get(id)?;
            let body: (StartBody, Request<()>) = super::read_json_keep(req).await?;
            start(door, e, body).await
        }
        (&Method::POST, [id, "resize"]) => {
            let e = door.execs.get(id)?;
            let (h, w) = super::containers::size(q)?;
            resize(&e, h, w)
        }
        (&Method::GET, [id, "json"]) => {
            let e = door.execs.get(id)?;
            let st = e.state.lock().expect("exec");
            let cmd = e.config.cmd.clone().unwrap_or_default();
            http::json(&json!({
                "ID": e.id,
                "Running": st.running,
                "ExitCode": st.exit_code,
                "ProcessConfig": {
                    "tty": e.config.tty.unwrap_or(false),
                    "entrypoint": cmd.first(),
                    "arguments": cmd.get(1..).unwrap_or(&[]),
                    "privileged": e.config.privileged.unwrap_or(false),
                    "user": e.config.user.clone().unwrap_or_default(),
                },
                "OpenStdin": e.config.attach_stdin.unwrap_or(false),
                "OpenStderr": e.config.attach_stderr.unwrap_or(false),
                "OpenStdout": e.config.attach_stdout.unwrap_or(false),
                "CanRemove": false,
                "ContainerID": e.container,
                "DetachKeys": e.config.detach_keys.clone().unwrap_or_default(),
                "Pid": st.pid,
            }))
        }
        _ => Err(ApiError::not_found("page not found")),
    }
}

fn winsize(h: u16, w: u16) -> libc::winsize {
    libc::winsize {
        ws_row: h,
        ws_col: w,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

fn resize(e: &Exec, h: u16, w: u16) -> ApiResult {
    let st = e.state.lock().expect("exec");
    let Some(pty) = &st.pty else {
        // Docker answers resizes of a terminal-less exec with success too.
        return http::empty();
    };
    let ws = winsize(h, w);
    // SAFETY: TIOCSWINSZ reads the winsize struct, which lives across the call.
    unsafe { libc::ioctl(pty.get_ref().as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    if st.pid > 0 {
        // The helper copies the size onto the container's terminal when told.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(st.pid),
            nix::sys::signal::Signal::SIGWINCH,
        );
    }
    http::empty()
}

/// The exec request for the helper: the container's own (user, env, caps, cgroup, seccomp),
/// adjusted by the exec's config.
async fn request(
    door: &Door,
    e: &Exec,
    tty: bool,
) -> Result<berth_engine::runtime::exec::ExecRequest, ApiError> {
    let ctr = super::containers::get(door, &e.container).await?;
    let rec = ctr.rec.lock().await;
    let mut req = door
        .d
        .containers
        .exec_request(&rec, e.config.cmd.clone().unwrap_or_default())
        .await?;
    for kv in e.config.env.iter().flatten() {
        let key = kv.split('=').next().unwrap_or("");
        req.env.retain(|x| x.split('=').next() != Some(key));
        req.env.push(kv.clone());
    }
    if let Some(u) = e.config.user.as_ref().filter(|u| !u.is_empty()) {
        req.user = u.clone();
    }
    if let Some(w) = e.config.working_dir.as_ref().filter(|w| !w.is_empty()) {
        req.cwd = w.clone();
    }
    if e.config.privileged.unwrap_or(false) {
        req.capabilities = berth_engine::runtime::caps::effective_set(true, &[], &[])
            .map_err(ApiError::internal)?;
        req.privileged = true;
        req.seccomp = None;
    }
    req.tty = tty;
    req.interactive = e.config.attach_stdin.unwrap_or(false);
    Ok(req)
}

async fn start(door: &Arc<Door>, e: Arc<Exec>, body: (StartBody, Request<()>)) -> ApiResult {
    let (body, req) = body;
    {
        let mut st = e.state.lock().expect("exec");
        if st.started {
            return Err(ApiError::conflict(format!(
                "Error: Exec command {} has already run",
                e.id
            )));
        }
        st.started = true;
    }
    let tty = body.tty.or(e.config.tty).unwrap_or(false);
    let size = body
        .console_size
        .or(e.config.console_size.clone())
        .filter(|s| s.len() == 2);
    let exec_req = request(door, &e, tty).await?;
    let json = serde_json::to_string(&exec_req).map_err(|ev| ApiError::internal(ev.to_string()))?;
    let mut cmd = tokio::process::Command::new(door.d.containers.helper_exe());
    cmd.arg("exec-helper").arg(json).kill_on_drop(false);
    let detach = body.detach.unwrap_or(false);
    if detach {
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let child = cmd
            .spawn()
            .map_err(|ev| ApiError::internal(format!("starting the exec: {ev}")))?;
        let e2 = e.clone();
        tokio::spawn(async move { finish(&e2, child, None).await });
        return http::empty();
    }
    let pty = if tty {
        let p = open_pty(size.map(|s| (s[0], s[1])))?;
        let slave = &p.1;
        cmd.stdin(std::process::Stdio::from(slave.try_clone()?))
            .stdout(std::process::Stdio::from(slave.try_clone()?))
            .stderr(std::process::Stdio::from(slave.try_clone()?));
        Some(p)
    } else {
        let stdin = if e.config.attach_stdin.unwrap_or(false) {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        };
        cmd.stdin(stdin)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        None
    };
    let mut child = cmd
        .spawn()
        .map_err(|ev| ApiError::internal(format!("starting the exec: {ev}")))?;
    let master = match pty {
        Some((master, slave)) => {
            drop(slave);
            // The AsyncFd owns the master outright: nothing else can close it behind the
            // reactor's back, the concern behind the deprecation.
            #[allow(deprecated)]
            let registered = AsyncFd::new(master);
            let afd = Arc::new(registered.map_err(|ev| ApiError::internal(ev.to_string()))?);
            Some(afd)
        }
        None => None,
    };
    {
        let mut st = e.state.lock().expect("exec");
        st.running = true;
        st.pid = child.id().unwrap_or(0) as i32;
        st.pty = master.clone();
    }
    let (reply, conn) = stream::hijack(req, tty);
    let (out, err, input) = (child.stdout.take(), child.stderr.take(), child.stdin.take());
    let (want_out, want_err) = (
        e.config.attach_stdout.unwrap_or(true),
        e.config.attach_stderr.unwrap_or(true),
    );
    tokio::spawn(async move {
        let Some(conn) = conn.await else {
            finish(&e, child, None).await;
            return;
        };
        let conn = match master {
            Some(m) => relay_pty(conn, m).await,
            None => relay_pipes(conn, out, err, input, want_out, want_err).await,
        };
        finish(&e, child, Some(conn)).await;
    });
    Ok(reply)
}

/// Waits for the helper, records the exit code, then ends the client's stream: the client
/// asks for the code as soon as its stream ends.
async fn finish(e: &Exec, mut child: tokio::process::Child, conn: Option<Conn>) {
    let code = match child.wait().await {
        Ok(s) => s.code().unwrap_or_else(|| {
            128 + std::os::unix::process::ExitStatusExt::signal(&s).unwrap_or(0)
        }),
        Err(_) => 126,
    };
    {
        let mut st = e.state.lock().expect("exec");
        st.running = false;
        st.exit_code = Some(code);
        st.pty = None;
    }
    if let Some(c) = conn {
        c.close().await;
    }
}

async fn copy_out(
    mut r: impl AsyncRead + Unpin,
    tx: tokio::sync::mpsc::Sender<(u8, Vec<u8>)>,
    s: u8,
) {
    let mut buf = vec![0u8; 32 * 1024];
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0 || tx.send((s, buf[..n].to_vec())).await.is_err() {
            return;
        }
    }
}

/// Without a terminal: stdout and stderr framed, the client's bytes to stdin (closed at
/// its end). Returns once both outputs ended.
async fn relay_pipes(
    mut conn: Conn,
    out: Option<tokio::process::ChildStdout>,
    err: Option<tokio::process::ChildStderr>,
    stdin: Option<tokio::process::ChildStdin>,
    want_out: bool,
    want_err: bool,
) -> Conn {
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    if let Some(o) = out {
        tokio::spawn(copy_out(o, tx.clone(), STDOUT));
    }
    if let Some(e) = err {
        tokio::spawn(copy_out(e, tx.clone(), STDERR));
    }
    drop(tx);
    if let (Some(mut input), Some(mut w)) = (conn.input.take(), stdin) {
        tokio::spawn(async move {
            let mut buf = vec![0u8; 16 * 1024];
            while let Ok(n) = input.read(&mut buf).await {
                if n == 0 || w.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
            // Dropping `w` closes the process's stdin.
        });
    }
    while let Some((s, data)) = rx.recv().await {
        if (s == STDOUT && !want_out) || (s == STDERR && !want_err) {
            continue;
        }
        if !conn.send(false, s, &data).await {
            break;
        }
    }
    conn
}

fn io_err(e: nix::Error) -> std::io::Error {
    std::io::Error::from_raw_os_error(e as i32)
}

/// With a terminal: the pty's output raw to the client, the client's bytes into it.
async fn relay_pty(mut conn: Conn, master: Arc<AsyncFd<OwnedFd>>) -> Conn {
    if let Some(mut input) = conn.input.take() {
        let m = master.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 16 * 1024];
            while let Ok(n) = input.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                let mut data = &buf[..n];
                while !data.is_empty() {
                    let Ok(mut guard) = m.writable().await else {
                        return;
                    };
                    match guard.try_io(|fd| nix::unistd::write(fd.get_ref(), data).map_err(io_err))
                    {
                        Ok(Ok(w)) => data = &data[w..],
                        Ok(Err(_)) => return,
                        Err(_) => continue,
                    }
                }
            }
        });
    }
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let Ok(mut guard) = master.readable().await else {
            break;
        };
        match guard
            .try_io(|fd| nix::unistd::read(fd.get_ref().as_raw_fd(), &mut buf).map_err(io_err))
        {
            // EIO: the last holder of the terminal's other side closed it.
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                if !conn.send(true, STDOUT, &buf[..n]).await {
                    break;
                }
            }
            Err(_) => continue,
        }
    }
    conn
}

/// A host terminal pair for a `-t` exec: raw (the container's terminal does the line
/// discipline), non-blocking on the daemon's side, sized as the client said.
fn open_pty(size: Option<(u16, u16)>) -> Result<(OwnedFd, OwnedFd), ApiError> {
    let ws = size.map(|(h, w)| nix::pty::Winsize {
        ws_row: h,
        ws_col: w,
        ws_xpixel: 0,
        ws_ypixel: 0,
    });
    let p = nix::pty::openpty(ws.as_ref(), None)
        .map_err(|e| ApiError::internal(format!("openpty: {e}")))?;
    if let Ok(mut t) = nix::sys::termios::tcgetattr(&p.slave) {
        nix::sys::termios::cfmakeraw(&mut t);
        let _ = nix::sys::termios::tcsetattr(&p.slave, nix::sys::termios::SetArg::TCSANOW, &t);
    }
    let flags = nix::fcntl::fcntl(p.master.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    nix::fcntl::fcntl(
        p.master.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFL(
            nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_NONBLOCK,
        ),
    )
    .map_err(|e| ApiError::internal(e.to_string()))?;
    let _ = nix::fcntl::fcntl(
        p.master.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    );
    Ok((p.master, p.slave))
}
