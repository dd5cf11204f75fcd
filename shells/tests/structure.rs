//! The shells' structure as the design has it: the Kafka roles are handlers of the one
//! consumer loop, and no role module imports another.

const ROLES: [&str; 6] = ["calc", "bridge", "image", "generate", "render", "topics"];

#[test]
fn no_role_module_imports_another() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for role in ROLES {
        let Ok(text) = std::fs::read_to_string(src.join(format!("{role}.rs"))) else {
            continue;
        };
        for line in text
            .lines()
            .filter(|l| l.trim_start().starts_with("use crate::"))
        {
            for other in ROLES.iter().filter(|&&other| other != role) {
                let imports = line.contains(&format!("crate::{other}"))
                    || line.contains(&format!("{{{other}"))
                    || line.contains(&format!(" {other},"))
                    || line.contains(&format!(" {other}}}"));
                assert!(!imports, "{role}.rs imports {other}: {line}");
            }
        }
    }
}

#[test]
fn the_kafka_roles_run_on_the_consumer_loop() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for role in ["calc", "bridge", "image"] {
        let text = std::fs::read_to_string(src.join(format!("{role}.rs"))).unwrap();
        assert!(
            text.contains("consumer::run("),
            "{role}.rs does not run the consumer loop"
        );
        assert!(
            !text.contains(".poll("),
            "{role}.rs polls a consumer of its own"
        );
    }
}
