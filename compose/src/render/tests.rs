//! Outputs compared with what Docker Compose v2.40.3 printed for the same model (a one-time
//! side-by-side run; the expected text is written here so that the tests need no Docker).

use super::*;
use serde_json::json;

#[test]
fn strings_are_quoted_as_go_yaml_quotes_them() {
    for (s, want) in [
        ("a && b <c>", "a && b <c>"),
        ("tab\there", "\"tab\\there\""),
        ("it's", "it's"),
        ("- x", "'- x'"),
        ("#c", "'#c'"),
        ("a: b", "'a: b'"),
        ("yes", "\"yes\""),
        ("y", "\"y\""),
        ("1.5", "\"1.5\""),
        ("2001-01-01", "\"2001-01-01\""),
        ("x #y", "'x #y'"),
        (" lead", "' lead'"),
        ("émoji 😀", "\"émoji \\U0001F600\""),
        ("@at", "'@at'"),
        ("%p", "'%p'"),
        ("key:", "'key:'"),
        ("!bang", "'!bang'"),
        ("a,b", "a,b"),
        ("[x]", "'[x]'"),
        ("0x1F", "\"0x1F\""),
        ("1_000", "\"1_000\""),
        ("~", "\"~\""),
        ("null", "\"null\""),
        (".inf", "\".inf\""),
        ("12:30", "\"12:30\""),
        ("-", "'-'"),
        ("--", "--"),
        ("---x", "'---x'"),
        ("?x", "?x"),
        ("? x", "'? x'"),
        ("*a", "'*a'"),
        ("a*", "a*"),
        ("", "\"\""),
        ("4", "\"4\""),
        ("nginx:1", "nginx:1"),
        ("1m30s", "1m30s"),
    ] {
        assert_eq!(emit::quote_for_tests(s), want, "{s:?}");
    }
}

#[test]
fn map_keys_sort_as_go_yaml_sorts_them() {
    let mut keys = vec!["01", "2", "10", "a10", "a9", "B", "_u"];
    keys.sort_by(|a, b| go_yaml_key_order(a, b));
    assert_eq!(keys, ["_u", "01", "2", "10", "B", "a9", "a10"]);
}

#[test]
fn a_service_prints_in_field_order_without_empty_fields() {
    let model = json!({
        "volumes": {"db": {"name": "t_db"}},
        "name": "t",
        "services": {"web": {
            "image": "nginx:1",
            "command": ["echo", "multi\nline\n", "multi\nno end"],
            "entrypoint": null,
            "environment": {"a10": "1", "a9": "2", "B": "3"},
            "cpus": 0.5,
            "mem_limit": "1073741824",
            "ulimits": {"nproc": 5, "nofile": {"hard": 20, "soft": 10}},
            "healthcheck": {"test": ["CMD", "true"], "interval": "1m30s"},
            "networks": {"default": null},
            "volumes": [{"type": "volume", "source": "db", "target": "/x", "volume": {}}],
            "x-foo": {"b": 1, "a": [1, {"z": 1, "y": 2}]}
        }},
        "networks": {"default": {"name": "t_default", "ipam": {}}}
    });
    let want = r#"name: t
services:
  web:
    cpus: 0.5
    command:
      - echo
      - |
        multi
        line
      - |-
        multi
        no end
    environment:
      B: "3"
      a9: "2"
      a10: "1"
    healthcheck:
      test:
        - CMD
        - "true"
      interval: 1m30s
    image: nginx:1
    mem_limit: "1073741824"
    networks:
      default: null
    ulimits:
      nofile:
        soft: 10
        hard: 20
      nproc: 5
    volumes:
      - type: volume
        source: db
        target: /x
        volume: {}
    x-foo:
      a:
        - 1
        - "y": 2
          z: 1
      b: 1
networks:
  default:
    name: t_default
volumes:
  db:
    name: t_db
"#;
    assert_eq!(yaml(&model), want);
    let json = json(&model);
    assert!(
        json.starts_with("{\n  \"name\": \"t\",\n  \"networks\""),
        "{json}"
    );
    assert!(json.contains("\"entrypoint\": null") && json.contains("\"ipam\": {}"));
    assert!(json.ends_with('}'));
    let services = json.find("\"services\"").unwrap();
    assert!(json[services..].find("\"cpus\"") < json[services..].find("\"image\""));
}

#[test]
fn go_escapes_html_characters_in_json() {
    let model = json!({"name": "t", "services": {"a": {"command": ["a && b <c>"]}}});
    assert!(json(&model).contains(r#""a \u0026\u0026 b \u003cc\u003e""#));
}
