//! Load-and-normalize benchmark: a generated 200-service stack file.
//! Run: `cargo bench -p berth-compose --bench load` (target: <= 20 ms per load).

use berth_compose::loader::{load, LoadOptions};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

fn generate(n: usize) -> String {
    let mut s = String::from("name: bench\nx-common: &common\n  restart: unless-stopped\n  labels:\n    tier: bench\nservices:\n");
    for i in 0..n {
        let _ = write!(
            s,
            "  svc{i}:\n    <<: *common\n    image: registry.example.com/app{i}:${{TAG:-1.0}}\n    command: [\"/bin/app\", \"--id\", \"{i}\"]\n    environment:\n      - ID={i}\n      - MODE=${{MODE:-prod}}\n    ports:\n      - \"{}:80\"\n      - \"127.0.0.1:{}:443/tcp\"\n    volumes:\n      - data{i}:/var/lib/app\n      - ./conf/{i}:/etc/app:ro\n    networks:\n      front:\n        aliases: [a{i}]\n      back: {{}}\n    healthcheck:\n      test: curl -f http://localhost/\n      interval: 30s\n      timeout: 5s\n      retries: 3\n    deploy:\n      resources:\n        limits:\n          memory: 256m\n",
            10000 + i,
            20000 + i
        );
        if i > 0 {
            let _ = write!(
                s,
                "    depends_on:\n      svc{}:\n        condition: service_started\n",
                i - 1
            );
        }
    }
    s.push_str("networks:\n  front: {}\n  back:\n    internal: true\nvolumes:\n");
    for i in 0..n {
        let _ = writeln!(s, "  data{i}: {{}}");
    }
    s
}

fn main() {
    let dir = std::env::temp_dir().join(format!("berth-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("compose.yaml");
    std::fs::write(&file, generate(200)).expect("write stack file");
    let opts = LoadOptions {
        files: vec![file.to_string_lossy().into_owned()],
        cwd: Some(dir.clone()),
        ..LoadOptions::default()
    };
    // warm up, and make sure the file is valid
    let p = load(&opts).expect("generated file loads");
    assert_eq!(p.services.len(), 200);
    let mut times: Vec<Duration> = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        let p = load(&opts).expect("load");
        times.push(t.elapsed());
        std::hint::black_box(p);
    }
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "load 200 services: median {:.2} ms, min {:.2} ms, max {:.2} ms",
        median.as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3
    );
    // the YAML parser alone, for reference
    let text = generate(200);
    let mut yt: Vec<Duration> = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        let v: serde_yaml::Value = serde_yaml::from_str(&text).expect("yaml");
        yt.push(t.elapsed());
        std::hint::black_box(v);
    }
    yt.sort();
    println!(
        "(yaml parse alone: median {:.2} ms)",
        yt[yt.len() / 2].as_secs_f64() * 1e3
    );
    let _ = std::fs::remove_dir_all(&dir);
}
