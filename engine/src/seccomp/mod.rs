//! seccomp filters with Docker's semantics: Docker's default profile (or one in its format,
//! `--security-opt seccomp=PROFILE.json`) is selected for the container's capabilities, the
//! machine's architecture and the running kernel, compiled once by the daemon into a BPF
//! program, and installed by the container's init and by every exec'd process before exec.
//!
//! Why it matters: without a filter, a default container can `unshare -Urm` and mount, which
//! opens the kernel surface behind CVE-2022-0185 and CVE-2022-0492, and reach keyctl, bpf,
//! perf_event_open, kexec_load and open_by_handle_at.
//!
//! `default.json` is Docker's default profile as moby/profiles ships it (Apache-2.0), kept as
//! data so it can be compared with Docker's and updated as a whole.

mod compile;
mod profile;

pub use profile::Profile;

use std::sync::{Mutex, OnceLock};

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("{0}")]
    Profile(String),
    #[error("compiling the seccomp filter: {0}")]
    Compile(String),
    #[error("reading the seccomp filter {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("installing the seccomp filter: {0}")]
    Install(std::io::Error),
}

/// A compiled filter: classic BPF instructions, ready for the kernel (installing it
/// allocates nothing, so it is safe right after a fork).
#[derive(Clone)]
pub struct Program(Vec<libc::sock_filter>);

const INSTRUCTION: usize = std::mem::size_of::<libc::sock_filter>();

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Program({} instructions)", self.0.len())
    }
}

impl Program {
    /// From `struct sock_filter`s in the machine's byte order, as libseccomp exports them.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Program, SeccompError> {
        // The kernel takes at most BPF_MAXINSNS (4096) instructions in one filter.
        if bytes.is_empty()
            || !bytes.len().is_multiple_of(INSTRUCTION)
            || bytes.len() / INSTRUCTION > 4096
        {
            return Err(SeccompError::Compile(format!(
                "not a BPF program ({} bytes)",
                bytes.len()
            )));
        }
        Ok(Program(
            bytes
                .chunks_exact(INSTRUCTION)
                .map(|c| libc::sock_filter {
                    code: u16::from_ne_bytes([c[0], c[1]]),
                    jt: c[2],
                    jf: c[3],
                    k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
                })
                .collect(),
        ))
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.0.len() * INSTRUCTION);
        for i in &self.0 {
            out.extend_from_slice(&i.code.to_ne_bytes());
            out.extend_from_slice(&[i.jt, i.jf]);
            out.extend_from_slice(&i.k.to_ne_bytes());
        }
        out
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Reads a program written with `to_bytes`.
    pub fn read(path: &std::path::Path) -> Result<Program, SeccompError> {
        let bytes = std::fs::read(path).map_err(|source| SeccompError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Program::from_bytes(bytes)
    }

    /// Installs the filter on the calling thread (the container's single-threaded init or
    /// exec'd child), for it and everything it execs. Needs no_new_privs or CAP_SYS_ADMIN,
    /// so without no_new_privs it must come before capabilities are dropped (as runc does).
    pub fn install(&self) -> Result<(), SeccompError> {
        let prog = libc::sock_fprog {
            len: self.0.len() as u16,
            filter: self.0.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: `prog` points at our instructions, which outlive the call; the kernel
        // copies the program and never writes through the pointer.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                &prog as *const libc::sock_fprog,
            )
        };
        if rc != 0 {
            return Err(SeccompError::Install(std::io::Error::last_os_error()));
        }
        Ok(())
    }
}

/// Docker's default profile.
pub fn default_profile() -> &'static Profile {
    static DEFAULT: OnceLock<Profile> = OnceLock::new();
    DEFAULT.get_or_init(|| {
        Profile::parse(include_str!("default.json")).expect("the built-in profile parses")
    })
}

/// (custom profile, sorted capabilities) -> program.
type Entry = (Option<String>, Vec<String>, Program);
static CACHE: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
const CACHED: usize = 16;

fn sorted(capabilities: &[String]) -> Vec<String> {
    let mut caps = capabilities.to_vec();
    caps.sort();
    caps
}

/// The program [`compile`] made earlier for the same profile and capabilities, if it is
/// still cached: a lookup the caller can make on a thread that must not wait for a compile.
pub fn cached(profile_json: Option<&str>, capabilities: &[String]) -> Option<Program> {
    let caps = sorted(capabilities);
    CACHE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|(k, c, _)| k.as_deref() == profile_json && *c == caps)
        .map(|(_, _, p)| p.clone())
}

/// The filter `profile` makes for a container with `capabilities` on this machine.
/// Compiling Docker's profile takes milliseconds; containers with the same profile and
/// capabilities share one program, so a `run` pays it once per daemon.
pub fn compile(
    profile_json: Option<&str>,
    capabilities: &[String],
) -> Result<Program, SeccompError> {
    if let Some(p) = cached(profile_json, capabilities) {
        return Ok(p);
    }
    let caps = sorted(capabilities);
    let custom;
    let profile = match profile_json {
        Some(json) => {
            custom = Profile::parse(json)?;
            &custom
        }
        None => default_profile(),
    };
    let target = profile::Target {
        arch: compile::native_docker_arch(),
        capabilities: &caps,
        kernel: kernel_version(),
    };
    let program = compile::compile(profile, &target)?;
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() >= CACHED {
        cache.remove(0);
    }
    cache.push((profile_json.map(str::to_string), caps, program.clone()));
    Ok(program)
}

/// The running kernel's (major, minor), from uname; (0, 0) if it cannot be read, which
/// leaves out only the rules that need a minimum kernel.
fn kernel_version() -> (u32, u32) {
    nix::sys::utsname::uname()
        .ok()
        .and_then(|u| {
            profile::parse_kernel_version(
                u.release()
                    .to_string_lossy()
                    .split(['-', '+'])
                    .next()
                    .unwrap_or(""),
            )
            .ok()
        })
        .unwrap_or((0, 0))
}

#[cfg(test)]
mod tests;
