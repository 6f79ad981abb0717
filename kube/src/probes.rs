//! healthcheck -> readiness, liveness and startup probes (exec).
//!
//! Docker probes every `interval` and calls a container unhealthy after `retries` failures;
//! during `start_period` it probes every `start_interval` and failures do not count. Here
//! readiness (the Service's endpoints, what `depends_on: service_healthy` waits for) and
//! liveness use interval/timeout/retries, and a start period becomes a startup probe that
//! holds both back until the first success.

use crate::generate::Ctx;
use berth_compose::loader::Service;
use berth_compose::parse_duration_secs;
use k8s_openapi::api::core::v1::{ExecAction, Probe};

/// Docker's defaults (docker run --help: --health-*).
const INTERVAL: f64 = 30.0;
const TIMEOUT: f64 = 30.0;
const RETRIES: u64 = 3;
const START_INTERVAL: f64 = 5.0;

/// Whole seconds, at least 1: what probe fields take. A value that is rounded gets a warning.
fn seconds(cx: &mut Ctx, s: &str, key: &str, value: Option<&String>, default: f64) -> f64 {
    let Some(v) = value else { return default };
    match parse_duration_secs(v) {
        Some(d) if d.fract() == 0.0 && d >= 1.0 => d,
        Some(d) => {
            let r = d.ceil().max(1.0);
            cx.w.service(
                s,
                format!("healthcheck.{key}"),
                format!("{v} is rounded up to {r}s: probes count whole seconds"),
            );
            r
        }
        None => {
            cx.w.service(
                s,
                format!("healthcheck.{key}"),
                format!("{v:?} is not a duration; Docker's default applies"),
            );
            default
        }
    }
}

/// (readiness, liveness, startup) for a service's health check; none without one.
pub(crate) fn probes(
    cx: &mut Ctx,
    s: &str,
    svc: &Service,
) -> (Option<Probe>, Option<Probe>, Option<Probe>) {
    let Some(h) = &svc.healthcheck else {
        return (None, None, None);
    };
    if h.disable == Some(true) {
        return (None, None, None);
    }
    let command = match h.test.split_first() {
        Some((k, rest)) if k == "CMD" && !rest.is_empty() => rest.to_vec(),
        Some((k, rest)) if k == "CMD-SHELL" && !rest.is_empty() => {
            vec!["/bin/sh".into(), "-c".into(), rest.join(" ")]
        }
        Some((k, _)) if k == "NONE" => return (None, None, None),
        // No test: the image's HEALTHCHECK with these timings, which only the image knows.
        _ => {
            cx.w.service(
                s,
                "healthcheck",
                "has no test (the image's own HEALTHCHECK is not visible here) and is left out",
            );
            return (None, None, None);
        }
    };
    let interval = seconds(cx, s, "interval", h.interval.as_ref(), INTERVAL);
    let timeout = seconds(cx, s, "timeout", h.timeout.as_ref(), TIMEOUT);
    let retries = h.retries.unwrap_or(RETRIES).max(1);
    let start_period = match &h.start_period {
        Some(v) => parse_duration_secs(v).unwrap_or(0.0),
        None => 0.0,
    };
    let exec = Some(ExecAction {
        command: Some(command),
    });
    let probe = Probe {
        exec,
        period_seconds: Some(interval as i32),
        timeout_seconds: Some(timeout as i32),
        failure_threshold: Some(retries.min(i32::MAX as u64) as i32),
        success_threshold: Some(1),
        ..Probe::default()
    };
    let startup = (start_period > 0.0).then(|| {
        let every = seconds(
            cx,
            s,
            "start_interval",
            h.start_interval.as_ref(),
            START_INTERVAL,
        );
        // Failures inside the start period do not count, then `retries` do.
        let tries = (start_period / every).ceil() as u64 + retries;
        Probe {
            period_seconds: Some(every as i32),
            failure_threshold: Some(tries.min(i32::MAX as u64) as i32),
            ..probe.clone()
        }
    });
    (Some(probe.clone()), Some(probe), startup)
}
