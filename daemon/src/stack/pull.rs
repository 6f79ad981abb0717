//! Images a stack needs, pulled before the controller runs: each service's `pull_policy`
//! (always, never, missing / if_not_present, build, daily, weekly, every_<duration>), or
//! `up --pull` / `berth pull` overriding it, and `platform:` choosing from an image index.

use crate::http::ApiError;
use crate::images::ProgressFn;
use crate::Daemon;
use berth_compose::loader::Project;
use berth_engine::registry::Progress;
use std::sync::Arc;

/// What to do about one service's image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Pull,
    Keep,
}

/// Pulls what `project`'s services (all, or `services`) need under their policies, with
/// `policy` (from `up --pull` or `berth pull`) taking precedence. Services sharing an image
/// pull it once. The first error stops, naming the service.
pub async fn ensure_images(
    d: &Arc<Daemon>,
    project: &Project,
    services: &[String],
    policy: Option<&str>,
    progress: ProgressFn,
) -> Result<(), ApiError> {
    pull_needed(d, project, services, policy, progress, false).await
}

/// The reconcile loop's pull: missing images, and those due under daily/weekly/every_N.
/// `always` counts as `missing` there: a pass every few seconds is not an `up`.
pub async fn ensure_images_in_pass(
    d: &Arc<Daemon>,
    project: &Project,
    progress: ProgressFn,
) -> Result<(), ApiError> {
    pull_needed(d, project, &[], None, progress, true).await
}

async fn pull_needed(
    d: &Arc<Daemon>,
    project: &Project,
    services: &[String],
    policy: Option<&str>,
    progress: ProgressFn,
    in_pass: bool,
) -> Result<(), ApiError> {
    let mut done: Vec<(String, Option<String>)> = Vec::new();
    for (name, svc) in &project.services {
        if !services.is_empty() && !services.contains(name) {
            continue;
        }
        let Some(image) = svc.image.clone() else {
            continue;
        };
        let key = (image.clone(), svc.platform.clone());
        if done.contains(&key) {
            continue;
        }
        let mut policy = policy
            .or(svc.pull_policy.as_deref())
            .unwrap_or("missing")
            .to_string();
        if in_pass && policy == "always" {
            policy = "missing".into();
        }
        let buildable = svc.build.is_some();
        match decision(d, name, &image, &policy, buildable).await? {
            None | Some(Decision::Keep) => {}
            Some(Decision::Pull) => {
                progress(Progress {
                    id: name.clone(),
                    status: format!("Pulling {image}"),
                    current: None,
                    total: None,
                });
                let pulled = d
                    .images
                    .pull(&image, svc.platform.as_deref(), progress.clone())
                    .await;
                match pulled {
                    // As Compose: an image the stack can build need not be in a registry.
                    Err(e) if buildable => {
                        progress(Progress {
                            id: name.clone(),
                            status: format!("Skipped: {} (built instead)", e.message),
                            current: None,
                            total: None,
                        });
                        done.push(key);
                        continue;
                    }
                    Err(e) => {
                        return Err(ApiError::new(
                            e.status,
                            format!("service {name:?}: pulling {image}: {}", e.message),
                        ))
                    }
                    Ok(_) => {}
                }
                progress(Progress {
                    id: name.clone(),
                    status: "Pulled".into(),
                    current: None,
                    total: None,
                });
            }
        }
        done.push(key);
    }
    Ok(())
}

/// What the pull phase does about service `name`'s `image` under `policy`; None when the
/// build phase makes it instead: a service that builds its image is built, not pulled, when
/// the image is missing (stack::build), and always under pull_policy build.
async fn decision(
    d: &Daemon,
    name: &str,
    image: &str,
    policy: &str,
    buildable: bool,
) -> Result<Option<Decision>, ApiError> {
    let (present, tagged) = {
        let img = image.to_string();
        d.images
            .with(move |s| Ok((s.resolve(&img).is_ok(), s.last_tagged(&img))))
            .await?
    };
    if buildable
        && (policy == "build" || (!present && matches!(policy, "missing" | "if_not_present")))
    {
        return Ok(None);
    }
    decide(name, image, policy, present, tagged.as_deref()).map(Some)
}

/// The first of `project`'s services whose image `up`'s pull phase would pull (or fail to
/// find), under each service's own pull_policy; None when the phase would do nothing.
pub async fn first_to_pull(d: &Daemon, project: &Project) -> Result<Option<String>, ApiError> {
    // Services mostly share an image and a policy: each pair is looked at once.
    let mut seen = std::collections::HashSet::new();
    for (name, svc) in &project.services {
        let Some(image) = &svc.image else { continue };
        let policy = svc.pull_policy.as_deref().unwrap_or("missing");
        if !seen.insert((image, policy, svc.build.is_some())) {
            continue;
        }
        match decision(d, name, image, policy, svc.build.is_some()).await {
            Ok(None | Some(Decision::Keep)) => {}
            Ok(Some(Decision::Pull)) | Err(_) => return Ok(Some(name.clone())),
        }
    }
    Ok(None)
}

/// Compose's pull_policy semantics for an image that is `present` or not, last tagged at
/// `tagged` (RFC 3339).
fn decide(
    service: &str,
    image: &str,
    policy: &str,
    present: bool,
    tagged: Option<&str>,
) -> Result<Decision, ApiError> {
    let pull_if_missing = if present {
        Decision::Keep
    } else {
        Decision::Pull
    };
    let refresh_after = |secs: i64| -> Decision {
        let age = tagged
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| chrono::Utc::now().signed_duration_since(t).num_seconds());
        match (present, age) {
            (true, Some(a)) if a < secs => Decision::Keep,
            _ => Decision::Pull,
        }
    };
    Ok(match policy {
        "always" => Decision::Pull,
        "missing" | "if_not_present" => pull_if_missing,
        "never" if present => Decision::Keep,
        "never" => {
            return Err(ApiError::not_found(format!(
                "service {service:?}: image {image} is not present locally and its pull_policy is never (pull it or load it first)"
            )))
        }
        "build" if present => Decision::Keep,
        "build" => {
            return Err(ApiError::bad_request(format!(
                "service {service:?}: pull_policy build needs a build section (image {image} is not present)"
            )))
        }
        "daily" => refresh_after(24 * 3600),
        "weekly" => refresh_after(7 * 24 * 3600),
        p => match p.strip_prefix("every_").and_then(parse_duration) {
            Some(secs) => refresh_after(secs),
            None => {
                return Err(ApiError::bad_request(format!(
                    "service {service:?}: invalid pull_policy {p:?}: expected always, never, missing, if_not_present, build, daily, weekly or every_<duration>"
                )))
            }
        },
    })
}

/// `1h30m`, `12h`, `2d`, `90s`, `1w` in seconds (Go durations plus days and weeks, as
/// Compose's every_<duration>).
fn parse_duration(s: &str) -> Option<i64> {
    let mut total = 0i64;
    let mut number = String::new();
    if s.is_empty() {
        return None;
    }
    for c in s.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: i64 = number.parse().ok()?;
        number.clear();
        total += n * match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            'w' => 7 * 86400,
            _ => return None,
        };
    }
    if !number.is_empty() {
        return None;
    }
    (total > 0).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policies_decide_as_compose() {
        let now = chrono::Utc::now();
        let hour_ago = (now - chrono::Duration::hours(1)).to_rfc3339();
        let two_days_ago = (now - chrono::Duration::days(2)).to_rfc3339();
        let d = |p: &str, present: bool, t: Option<&str>| decide("web", "img", p, present, t);
        assert_eq!(d("always", true, None).unwrap(), Decision::Pull);
        assert_eq!(d("missing", true, None).unwrap(), Decision::Keep);
        assert_eq!(d("if_not_present", false, None).unwrap(), Decision::Pull);
        assert_eq!(d("never", true, None).unwrap(), Decision::Keep);
        let never = d("never", false, None).unwrap_err().message;
        assert!(never.contains("pull_policy is never"), "{never}");
        assert!(d("build", false, None).is_err());
        assert_eq!(d("daily", true, Some(&hour_ago)).unwrap(), Decision::Keep);
        assert_eq!(
            d("daily", true, Some(&two_days_ago)).unwrap(),
            Decision::Pull
        );
        assert_eq!(
            d("weekly", true, Some(&two_days_ago)).unwrap(),
            Decision::Keep
        );
        assert_eq!(
            d("every_30m", true, Some(&hour_ago)).unwrap(),
            Decision::Pull
        );
        assert_eq!(
            d("every_2h", true, Some(&hour_ago)).unwrap(),
            Decision::Keep
        );
        assert!(d("sometimes", true, None).is_err());
        assert_eq!(parse_duration("1h30m"), Some(5400));
        assert_eq!(parse_duration("12"), None);
    }
}
