//! The compiled default profile against what Docker documents of its default: the calls it
//! denies (with EPERM, or ENOSYS for clone3 so libc falls back to clone), the ones ordinary
//! programs need, and what an added capability gives back. Each probe runs in a forked child
//! that installs the filter and makes one raw syscall with arguments that change nothing;
//! the same call without the filter must fail differently, so a probe cannot pass by luck.

use super::*;

fn caps(extra: &[&str]) -> Vec<String> {
    crate::runtime::caps::DEFAULT
        .iter()
        .chain(extra)
        .map(|c| c.to_string())
        .collect()
}

/// The errno of `call` in a child (0 if it succeeded), under `filter` if given.
/// A probe: one raw syscall, its return value.
type Call = fn() -> libc::c_long;

fn errno_of(filter: Option<&Program>, call: Call) -> i32 {
    let (rd, wr) = nix::unistd::pipe().unwrap();
    // SAFETY: the child only makes raw syscalls (installing a prepared filter allocates
    // nothing) and leaves with _exit.
    match unsafe { nix::unistd::fork() }.unwrap() {
        nix::unistd::ForkResult::Child => {
            // SAFETY: plain syscalls on our own descriptors.
            unsafe {
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                let mut errno: i32 = -1;
                if filter.is_none_or(|f| f.install().is_ok()) {
                    let rc = call();
                    errno = if rc < 0 { *libc::__errno_location() } else { 0 };
                }
                let bytes = errno.to_ne_bytes();
                libc::write(
                    std::os::fd::AsRawFd::as_raw_fd(&wr),
                    bytes.as_ptr().cast(),
                    4,
                );
                libc::_exit(0);
            }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(wr);
            let mut bytes = [0u8; 4];
            std::io::Read::read_exact(&mut std::fs::File::from(rd), &mut bytes).unwrap();
            nix::sys::wait::waitpid(child, None).unwrap();
            let errno = i32::from_ne_bytes(bytes);
            assert_ne!(errno, -1, "the filter could not be installed");
            errno
        }
    }
}

// SAFETY (all probes): raw syscalls with null or invalid arguments that the kernel rejects
// after the seccomp check, or that only act on the short-lived child itself.
fn unshare_user() -> libc::c_long {
    unsafe { libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUSER) }
}
fn mount_nothing() -> libc::c_long {
    unsafe { libc::syscall(libc::SYS_mount, 0, 0, 0, 0, 0) }
}
fn keyctl_bad() -> libc::c_long {
    unsafe { libc::syscall(libc::SYS_keyctl, -1i64, 0, 0, 0, 0) }
}
fn add_key_null() -> libc::c_long {
    unsafe { libc::syscall(libc::SYS_add_key, 0, 0, 0, 0, 0) }
}
fn bpf_bad() -> libc::c_long {
    unsafe { libc::syscall(libc::SYS_bpf, -1i64, 0, 0) }
}
fn perf_event_open_null() -> libc::c_long {
    unsafe { libc::syscall(libc::SYS_perf_event_open, 0, 0, -1i64, -1i64, 0) }
}
fn kexec_load_bad_flags() -> libc::c_long {
    unsafe { libc::syscall(libc::SYS_kexec_load, 0, 0, 0, 0xdead_0000u64) }
}
fn open_by_handle_at_bad() -> libc::c_long {
    unsafe { libc::syscall(libc::SYS_open_by_handle_at, -1i64, 0, 0) }
}
fn clone3_null() -> libc::c_long {
    unsafe { libc::syscall(libc::SYS_clone3, 0, 0) }
}
/// clone with a namespace flag: a child it makes leaves at once.
fn clone_newns() -> libc::c_long {
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_NEWNS | libc::SIGCHLD) as libc::c_long,
            0,
            0,
            0,
            0,
        )
    };
    if rc == 0 {
        unsafe { libc::_exit(0) };
    }
    rc
}
fn vsock_socket() -> libc::c_long {
    let rc = unsafe { libc::syscall(libc::SYS_socket, libc::AF_VSOCK, libc::SOCK_STREAM, 0) };
    if rc >= 0 {
        unsafe { libc::close(rc as i32) };
    }
    rc
}
fn inet_socket() -> libc::c_long {
    let rc = unsafe { libc::syscall(libc::SYS_socket, libc::AF_INET, libc::SOCK_STREAM, 0) };
    if rc >= 0 {
        unsafe { libc::close(rc as i32) };
    }
    rc
}
fn personality_query() -> libc::c_long {
    unsafe { libc::syscall(libc::SYS_personality, 0xffff_ffffu64) }
}
fn getpid() -> libc::c_long {
    unsafe { libc::syscall(libc::SYS_getpid) }
}
fn plain_fork_clone() -> libc::c_long {
    let rc = unsafe { libc::syscall(libc::SYS_clone, libc::SIGCHLD as libc::c_long, 0, 0, 0, 0) };
    if rc == 0 {
        unsafe { libc::_exit(0) };
    }
    rc
}

#[test]
fn the_default_profile_denies_what_docker_denies() {
    let filter = compile(None, &caps(&[])).unwrap();
    let denied: &[(&str, Call)] = &[
        ("unshare(CLONE_NEWUSER)", unshare_user),
        ("mount", mount_nothing),
        ("keyctl", keyctl_bad),
        ("add_key", add_key_null),
        ("bpf", bpf_bad),
        ("perf_event_open", perf_event_open_null),
        ("kexec_load", kexec_load_bad_flags),
        ("open_by_handle_at", open_by_handle_at_bad),
        ("clone(CLONE_NEWNS)", clone_newns),
        ("socket(AF_VSOCK)", vsock_socket),
    ];
    for (name, call) in denied {
        assert_eq!(
            errno_of(Some(&filter), *call),
            libc::EPERM,
            "{name} under the filter"
        );
        assert_ne!(
            errno_of(None, *call),
            libc::EPERM,
            "{name} without the filter (the probe proves nothing)"
        );
    }
    // clone3 is ENOSYS, not EPERM: glibc then falls back to clone for threads and fork.
    assert_eq!(errno_of(Some(&filter), clone3_null), libc::ENOSYS);
}

#[test]
fn the_default_profile_lets_ordinary_programs_run() {
    let filter = compile(None, &caps(&[])).unwrap();
    for (name, call) in [
        ("getpid", getpid as Call),
        ("socket(AF_INET)", inet_socket),
        ("personality(query)", personality_query),
        ("clone (fork)", plain_fork_clone),
    ] {
        assert_eq!(errno_of(Some(&filter), call), 0, "{name}");
    }
}

#[test]
fn an_added_capability_allows_its_syscalls_again() {
    // CAP_SYS_ADMIN: mount, unshare and namespace clones reach the kernel (which then
    // refuses the null arguments, or succeeds in the throwaway child).
    let admin = compile(None, &caps(&["CAP_SYS_ADMIN"])).unwrap();
    for (name, call) in [
        ("mount", mount_nothing as Call),
        ("unshare(CLONE_NEWUSER)", unshare_user),
        ("clone(CLONE_NEWNS)", clone_newns),
    ] {
        assert_ne!(
            errno_of(Some(&admin), call),
            libc::EPERM,
            "{name} with CAP_SYS_ADMIN"
        );
    }
    // clone3 too (no longer ENOSYS).
    assert_ne!(errno_of(Some(&admin), clone3_null), libc::ENOSYS);
    // CAP_DAC_READ_SEARCH gives open_by_handle_at back; the default set does not.
    let dac = compile(None, &caps(&["CAP_DAC_READ_SEARCH"])).unwrap();
    assert_ne!(errno_of(Some(&dac), open_by_handle_at_bad), libc::EPERM);
}

#[test]
fn a_custom_profile_is_compiled_with_its_own_rules() {
    let deny_getpid = r#"{
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]
    }"#;
    let filter = compile(Some(deny_getpid), &caps(&[])).unwrap();
    assert_eq!(errno_of(Some(&filter), getpid), libc::EACCES);
    assert_eq!(
        errno_of(Some(&filter), mount_nothing),
        errno_of(None, mount_nothing)
    );
    let err = compile(Some(r#"{"defaultAction": "SCMP_ACT_BOGUS"}"#), &[]).unwrap_err();
    assert!(err.to_string().contains("SCMP_ACT_BOGUS"), "{err}");
}

#[test]
fn programs_round_trip_through_bytes() {
    let filter = compile(None, &caps(&[])).unwrap();
    assert!(filter.len() > 100, "{filter:?}");
    let again = Program::from_bytes(filter.to_bytes()).unwrap();
    assert_eq!(again.to_bytes(), filter.to_bytes());
    assert!(Program::from_bytes(vec![0; 7]).is_err());
}
