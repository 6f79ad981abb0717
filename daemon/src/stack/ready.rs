//! Whether `up`'s phases before the controller would do anything: the pull phase (an image
//! to fetch), the build phase (an image to build) and the CLI's question about volumes whose
//! definition changed. Mostly none does; the CLI then sends its `up` first, saying so, and the
//! daemon goes straight on with it, or answers why not, having changed nothing, and the CLI
//! runs the phases as it otherwise would. That spares a usual `up` three requests and three
//! loads of the stack files (~20 ms of a 10-service `up`).

use super::build::When;
use super::convert::image_name;
use crate::http::ApiError;
use crate::Daemon;
use berth_compose::loader::Project;
use std::collections::BTreeMap;

/// Pull policies under which an image that is present is not pulled again.
const KEEPS_PRESENT: &[&str] = &["missing", "if_not_present", "never"];

/// Why `up` of `project` (all its services, as the pull phase looks at them) needs its
/// phases, `when` being the build phase's choice; None when none of them would act.
pub async fn unready(
    d: &Daemon,
    project: &Project,
    when: When,
) -> Result<Option<String>, ApiError> {
    let mut images = Vec::new();
    for (name, svc) in &project.services {
        let policy = svc.pull_policy.as_deref().unwrap_or("missing");
        if !KEEPS_PRESENT.contains(&policy) {
            return Ok(Some(format!("service {name:?} has pull_policy {policy}")));
        }
        if svc.build.is_some() && when == When::Always {
            return Ok(Some(format!("service {name:?} is built at every up")));
        }
        let image = image_name(project, name, svc);
        if !images.iter().any(|(_, i)| *i == image) {
            images.push((name.clone(), image));
        }
    }
    let missing = d
        .images
        .with(move |s| {
            Ok(images
                .into_iter()
                .find(|(_, image)| s.resolve(image).is_err()))
        })
        .await?;
    if let Some((name, image)) = missing {
        return Ok(Some(format!("service {name:?}: image {image} is missing")));
    }
    let existing: BTreeMap<String, BTreeMap<String, String>> = d
        .volumes
        .with(|v| Ok(v.list()))
        .await?
        .into_iter()
        .map(|r| (r.name, r.labels))
        .collect();
    let diverged = berth_compose::diverged_volumes(project, &existing);
    Ok(diverged
        .first()
        .map(|v| format!("volume {v} differs from its definition")))
}
