//! A selected profile to a BPF program, by libseccomp (as runc does for Docker), so actions,
//! argument comparisons and secondary architectures mean exactly what they mean there.

use super::profile::{ArgCondition, Profile, SyscallRule, Target};
use super::{Program, SeccompError};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use std::io::{Read, Seek};
use std::str::FromStr;

const EPERM: i32 = libc::EPERM;

pub(super) fn compile(profile: &Profile, target: &Target) -> Result<Program, SeccompError> {
    let err = |what: &str, e: libseccomp::error::SeccompError| {
        SeccompError::Compile(format!("{what}: {e}"))
    };
    let default = action(&profile.default_action, profile.default_errno_ret)?;
    let mut ctx = ScmpFilterContext::new(default).map_err(|e| err("creating the filter", e))?;
    for name in profile.architectures(native_scmp_arch()) {
        let arch = ScmpArch::from_str(&name)
            .map_err(|_| SeccompError::Profile(format!("unknown architecture {name:?}")))?;
        // The native architecture is in every new filter; adding it again is an error.
        if !ctx.is_arch_present(arch).unwrap_or(false) {
            ctx.add_arch(arch)
                .map_err(|e| err("adding an architecture", e))?;
        }
    }
    // Sort the syscalls into a binary tree: a check costs O(log n) instead of a walk down
    // Docker's ~370 allowed calls on every syscall the container makes.
    ctx.set_ctl_optimize(2).map_err(|e| err("optimize", e))?;
    for rule in profile.rules_for(target)? {
        let act = action(&rule.action, rule.errno_ret)?;
        // libseccomp refuses a rule that does what the default does; it would change nothing.
        if act == default {
            continue;
        }
        for name in rule.names() {
            // A name this libseccomp does not know (a syscall newer than it, or of another
            // architecture) is skipped, as runc does.
            let Ok(syscall) = ScmpSyscall::from_name(name) else {
                continue;
            };
            add_rule(&mut ctx, act, syscall, rule)
                .map_err(|e| SeccompError::Compile(format!("adding the rule for {name}: {e}")))?;
        }
    }
    export(&ctx)
}

/// One rule with all its argument conditions (all must hold); conditions on the same
/// argument cannot be ANDed by libseccomp, so those become one rule each, as runc does.
fn add_rule(
    ctx: &mut ScmpFilterContext,
    act: ScmpAction,
    syscall: ScmpSyscall,
    rule: &SyscallRule,
) -> Result<(), SeccompError> {
    let conditions = rule
        .args
        .iter()
        .map(compare)
        .collect::<Result<Vec<_>, _>>()?;
    let lib = |e: libseccomp::error::SeccompError| SeccompError::Compile(e.to_string());
    let mut indexes: Vec<u32> = rule.args.iter().map(|a| a.index).collect();
    indexes.sort_unstable();
    indexes.dedup();
    if conditions.is_empty() {
        ctx.add_rule(act, syscall).map_err(lib)?;
    } else if indexes.len() == conditions.len() {
        ctx.add_rule_conditional(act, syscall, &conditions)
            .map_err(lib)?;
    } else {
        for c in conditions {
            ctx.add_rule_conditional(act, syscall, &[c]).map_err(lib)?;
        }
    }
    Ok(())
}

fn compare(a: &ArgCondition) -> Result<ScmpArgCompare, SeccompError> {
    let (op, datum) = match a.op.as_str() {
        "SCMP_CMP_NE" => (ScmpCompareOp::NotEqual, a.value),
        "SCMP_CMP_LT" => (ScmpCompareOp::Less, a.value),
        "SCMP_CMP_LE" => (ScmpCompareOp::LessOrEqual, a.value),
        "SCMP_CMP_EQ" => (ScmpCompareOp::Equal, a.value),
        "SCMP_CMP_GE" => (ScmpCompareOp::GreaterEqual, a.value),
        "SCMP_CMP_GT" => (ScmpCompareOp::Greater, a.value),
        // Docker's format: `value` is the mask, `valueTwo` what the masked argument must equal.
        "SCMP_CMP_MASKED_EQ" => (ScmpCompareOp::MaskedEqual(a.value), a.value_two),
        other => {
            return Err(SeccompError::Profile(format!(
                "unknown comparison operator {other:?}"
            )))
        }
    };
    if a.index > 5 {
        return Err(SeccompError::Profile(format!(
            "argument index {} out of range (0 to 5)",
            a.index
        )));
    }
    Ok(ScmpArgCompare::new(a.index, op, datum))
}

fn action(name: &str, errno: Option<u32>) -> Result<ScmpAction, SeccompError> {
    let errno = errno.map(|e| e as i32).unwrap_or(EPERM);
    Ok(match name {
        "SCMP_ACT_ALLOW" => ScmpAction::Allow,
        "SCMP_ACT_ERRNO" => ScmpAction::Errno(errno),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => ScmpAction::KillThread,
        "SCMP_ACT_KILL_PROCESS" => ScmpAction::KillProcess,
        "SCMP_ACT_TRAP" => ScmpAction::Trap,
        "SCMP_ACT_TRACE" => ScmpAction::Trace(errno as u16),
        "SCMP_ACT_LOG" => ScmpAction::Log,
        // A notify action needs a listener process (listenerPath), which berth does not run.
        "SCMP_ACT_NOTIFY" => {
            return Err(SeccompError::Profile(
                "SCMP_ACT_NOTIFY is not supported".into(),
            ))
        }
        other => return Err(SeccompError::Profile(format!("unknown action {other:?}"))),
    })
}

/// The machine's architecture as libseccomp names it in profiles (SCMP_ARCH_*).
pub(super) fn native_scmp_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "SCMP_ARCH_X86_64",
        "x86" => "SCMP_ARCH_X86",
        "aarch64" => "SCMP_ARCH_AARCH64",
        "arm" => "SCMP_ARCH_ARM",
        "riscv64" => "SCMP_ARCH_RISCV64",
        "s390x" => "SCMP_ARCH_S390X",
        "powerpc64" if cfg!(target_endian = "little") => "SCMP_ARCH_PPC64LE",
        "powerpc64" => "SCMP_ARCH_PPC64",
        "loongarch64" => "SCMP_ARCH_LOONGARCH64",
        "mips64" => "SCMP_ARCH_MIPS64",
        _ => "SCMP_ARCH_NATIVE",
    }
}

/// The machine's architecture as Docker names it in a rule's `arches` (Go's names).
pub(super) fn native_docker_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "x86",
        "aarch64" => "arm64",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64" => "ppc64",
        other => other,
    }
}

/// The BPF program libseccomp generated, as bytes (libseccomp 2.5 exports only to a file
/// descriptor).
fn export(ctx: &ScmpFilterContext) -> Result<Program, SeccompError> {
    let io = |e: std::io::Error| SeccompError::Compile(format!("exporting the filter: {e}"));
    let fd = nix::sys::memfd::memfd_create(
        c"berth-seccomp",
        nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC,
    )
    .map_err(|e| io(e.into()))?;
    let mut file = std::fs::File::from(fd);
    ctx.export_bpf(&file)
        .map_err(|e| SeccompError::Compile(format!("exporting the filter: {e}")))?;
    file.rewind().map_err(io)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io)?;
    Program::from_bytes(bytes)
}
