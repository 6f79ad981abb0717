//! Build progress as Docker's plain output (BuildKit's `--progress=plain`): a numbered
//! vertex per step, its output lines stamped with seconds since it began, then `DONE`,
//! `CACHED` or `ERROR`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressMode {
    #[default]
    Plain,
    /// Nothing but errors.
    Quiet,
}

/// Where progress text goes (the API stream), and the step numbering.
pub struct Progress {
    mode: ProgressMode,
    sink: Box<dyn Fn(&str) + Send + Sync>,
    next: AtomicUsize,
    partial: Mutex<Vec<u8>>,
}

/// One numbered step.
pub struct Vertex<'a> {
    progress: &'a Progress,
    number: usize,
    started: Instant,
}

impl Progress {
    pub fn new(mode: ProgressMode, sink: impl Fn(&str) + Send + Sync + 'static) -> Progress {
        Progress {
            mode,
            sink: Box::new(sink),
            next: AtomicUsize::new(1),
            partial: Mutex::new(Vec::new()),
        }
    }

    fn emit(&self, text: &str) {
        if self.mode == ProgressMode::Plain {
            (self.sink)(text);
        }
    }

    /// Begins step `#N name`.
    pub fn vertex(&self, name: &str) -> Vertex<'_> {
        let number = self.next.fetch_add(1, Ordering::SeqCst);
        self.emit(&format!("#{number} {name}\n"));
        Vertex {
            progress: self,
            number,
            started: Instant::now(),
        }
    }

    pub fn warning(&self, message: &str) {
        (self.sink)(&format!("[Warning] {message}\n"));
    }

    pub fn export(&self, image_id: &str, tags: &[String]) {
        let v = self.vertex("exporting to image");
        v.line(&format!("writing image {image_id} done"));
        for t in tags {
            v.line(&format!("naming to {} done", qualified(t)));
        }
        v.done();
    }

    pub fn export_done(&self) {}
}

impl Vertex<'_> {
    /// A line of the step's own output.
    pub fn line(&self, text: &str) {
        self.progress.emit(&format!("#{} {text}\n", self.number));
    }

    /// Output of a RUN as it comes: complete lines stamped with seconds since the step began.
    pub fn output(&self, bytes: &[u8]) {
        let mut partial = self
            .progress
            .partial
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        partial.extend_from_slice(bytes);
        while let Some(pos) = partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = partial.drain(..=pos).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            self.progress.emit(&format!(
                "#{} {:.3} {}\n",
                self.number,
                self.started.elapsed().as_secs_f64(),
                text
            ));
        }
    }

    fn flush_output(&self) {
        let rest: Vec<u8> = std::mem::take(
            &mut *self
                .progress
                .partial
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        if !rest.is_empty() {
            self.output(&[rest, b"\n".to_vec()].concat());
        }
    }

    pub fn cached(self) {
        self.progress.emit(&format!("#{} CACHED\n\n", self.number));
    }

    pub fn done(self) {
        self.flush_output();
        self.progress.emit(&format!(
            "#{} DONE {:.1}s\n\n",
            self.number,
            self.started.elapsed().as_secs_f64()
        ));
    }

    pub fn error(&self, message: &str) {
        self.flush_output();
        // Errors are shown in every mode.
        (self.progress.sink)(&format!("#{} ERROR: {message}\n", self.number));
    }
}

/// `app` -> `docker.io/library/app:latest`, as Docker's "naming to" line.
fn qualified(tag: &str) -> String {
    let (name, tag_part) = match tag.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n.to_string(), t.to_string()),
        _ => (tag.to_string(), "latest".to_string()),
    };
    let first = name.split('/').next().unwrap_or("");
    let has_domain =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let full = if has_domain {
        name
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    format!("{full}:{tag_part}")
}
