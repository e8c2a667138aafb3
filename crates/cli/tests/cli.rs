//! The `coditect` command as a user runs it: a real process on a temporary sled store, its
//! exit code, its stdout (`--json` parsed) and its one-line errors.

mod support;

use std::process::Command;

use serde_json::Value;
use support::{coditect, demo, fails, json, ok, store, write_behind_the_command};

#[test]
fn demo_makes_the_seed_scenario_and_runs_again() {
    let dir = store();
    let text = ok(&coditect(dir.path(), &["demo"]));
    for expected in [
        "TechStartup Inc",
        "alice",
        "bob",
        "mobile_app",
        "ai_assistant_1",
        "Rival Labs",
        "Next, try",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    // Again, as JSON: fresh tenants under the next free domains, same shape.
    let demo = json(&coditect(dir.path(), &["demo", "--json"]));
    assert_eq!(demo["tenant"]["name"], "TechStartup Inc");
    assert_eq!(demo["tenant"]["domain"], "techstartup-2.example");
    assert_eq!(demo["tenant"]["project"]["code"], "mobile_app");
    assert_eq!(demo["tenant"]["agent"]["name"], "ai_assistant_1");
    assert_eq!(
        demo["tenant"]["tasks"][0]["assignee"],
        demo["tenant"]["agent"]["member_id"]
    );
    assert_eq!(demo["tenant"]["tasks"][0]["status"], "in_progress");
    assert_eq!(
        demo["tenant"]["comments"][0]["author"],
        demo["tenant"]["agent"]["member_id"]
    );
    assert_eq!(demo["second_tenant"]["project"]["code"], "mobile_app");
    assert_ne!(
        demo["second_tenant"]["project"]["id"],
        demo["tenant"]["project"]["id"]
    );
    assert_eq!(demo["isolation"]["tasks_seen"], serde_json::json!([2, 0]));

    let id = demo["tenant"]["id"].as_str().unwrap();
    let shown = json(&coditect(dir.path(), &["tenant", "show", id, "--json"]));
    assert_eq!(shown["counts"]["users"], 2);
    assert_eq!(shown["counts"]["members"], 3);
    assert_eq!(shown["counts"]["projects"], 1);
    assert_eq!(shown["counts"]["tasks"], 2);
}

#[test]
fn tenant_create_list_show_suspend_activate() {
    let dir = store();
    assert!(ok(&coditect(dir.path(), &["tenant", "list"])).contains("no tenants"));
    let made = json(&coditect(
        dir.path(),
        &[
            "tenant",
            "create",
            "--name",
            "Acme",
            "--domain",
            "Acme.Example",
            "--plan",
            "enterprise",
            "--admin-email",
            "ada@acme.example",
            "--json",
        ],
    ));
    let id = made["tenant"]["id"].as_str().unwrap().to_owned();
    assert_eq!(made["tenant"]["domain"], "acme.example");
    assert_eq!(made["tenant"]["plan"], "enterprise");
    assert_eq!(made["admin"]["email"], "ada@acme.example");
    let text = ok(&coditect(
        dir.path(),
        &[
            "tenant",
            "create",
            "--name",
            "Beta",
            "--domain",
            "beta.example",
        ],
    ));
    assert!(
        text.contains("created tenant") && text.contains("admin@beta.example"),
        "{text}"
    );

    let list = json(&coditect(dir.path(), &["tenant", "list", "--json"]));
    let tenants = list["tenants"].as_array().unwrap();
    assert_eq!(tenants.len(), 2);
    assert!(tenants.iter().any(|t| t["id"] == id.as_str()));
    let text = ok(&coditect(dir.path(), &["tenant", "list"]));
    assert!(
        text.contains("acme.example") && text.contains("beta.example"),
        "{text}"
    );

    let text = ok(&coditect(dir.path(), &["tenant", "show", &id]));
    assert!(
        text.contains("Acme") && text.contains("active") && text.contains("users"),
        "{text}"
    );

    let suspended = json(&coditect(dir.path(), &["tenant", "suspend", &id, "--json"]));
    assert_eq!(suspended["status"], "suspended");
    let shown = json(&coditect(dir.path(), &["tenant", "show", &id, "--json"]));
    assert_eq!(shown["status"], "suspended");
    assert_eq!(shown["counts"], Value::Null);
    let text = ok(&coditect(dir.path(), &["tenant", "activate", &id]));
    assert!(text.contains("is active"), "{text}");
    let shown = json(&coditect(dir.path(), &["tenant", "show", &id, "--json"]));
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["counts"]["users"], 1);

    // The domain is taken now.
    let error = fails(&coditect(
        dir.path(),
        &[
            "tenant",
            "create",
            "--name",
            "Again",
            "--domain",
            "acme.example",
        ],
    ));
    assert!(error.contains("domain already exists"), "{error}");
}

#[test]
fn kv_range_shows_tuples_hex_and_json() {
    let dir = store();
    let demo = json(&coditect(dir.path(), &["demo", "--json"]));
    let id = demo["tenant"]["id"].as_str().unwrap();

    let hex = ok(&coditect(
        dir.path(),
        &["kv", "range", "--tenant", id, "--hex", "--limit", "7"],
    ));
    let lines: Vec<&str> = hex.lines().collect();
    assert_eq!(lines.len(), 7, "{hex}");
    for line in &lines {
        let (key, value) = line.split_once(' ').expect("<hex key> <hex value>");
        assert!(
            !key.is_empty() && key.bytes().all(|b| b.is_ascii_hexdigit()),
            "{line}"
        );
        assert!(value.bytes().all(|b| b.is_ascii_hexdigit()), "{line}");
        assert!(
            key.starts_with("30"),
            "a tenant key starts with the UUID code: {line}"
        );
    }

    let tuples = ok(&coditect(
        dir.path(),
        &["kv", "range", "--tenant", id, "--collection", "task"],
    ));
    let lines: Vec<&str> = tuples.lines().collect();
    assert_eq!(lines.len(), 2, "{tuples}");
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with(&format!("({id}, \"task\", "))),
        "{tuples}"
    );

    let all = json(&coditect(
        dir.path(),
        &["kv", "range", "--tenant", id, "--limit", "0", "--json"],
    ));
    let rows = all["rows"].as_array().unwrap();
    assert_eq!(all["count"].as_u64().unwrap() as usize, rows.len());
    assert!(
        rows.len() > 20,
        "records, index entries, audit events, counters"
    );
    assert!(rows.iter().all(|r| r["tuple"]
        .as_str()
        .unwrap()
        .starts_with(&format!("({id}, "))));
    // Only this tenant's keys: the second tenant's never show.
    let other = demo["second_tenant"]["id"].as_str().unwrap();
    assert!(rows
        .iter()
        .all(|r| !r["tuple"].as_str().unwrap().contains(other)));
}

#[test]
fn bench_reports_every_kind_as_json_and_plots() {
    let dir = store();
    let plot = dir.path().join("latency.svg");
    let bench_dir = dir.path().join("bench-store");
    let report = json(&coditect(
        &bench_dir,
        &[
            "bench",
            "--tenants",
            "3",
            "--duration",
            "1",
            "--concurrency",
            "2",
            "--json",
            "--peer",
            "sqlite",
            "--plot",
            plot.to_str().unwrap(),
        ],
    ));
    let mut keys: Vec<&str> = report
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "duration_s",
            "fsync_floor_us",
            "list_us",
            "lookup_us",
            "onboarding_us",
            "ops",
            "ops_per_s",
            "peer",
            "store",
            "targets",
            "targets_met",
            "tenants",
            "vs_peer",
            "write_tx_us"
        ]
    );
    // The SQLite peer ran the same mix in the same run, and the ratios are ours over its.
    let peer = &report["peer"];
    assert_eq!(peer["tenants"], 3);
    assert!(peer["ops"].as_u64().unwrap() > 0, "{peer}");
    assert!(peer["write_tx_us"]["p50"].as_f64().unwrap() > 0.0, "{peer}");
    let ratio = report["vs_peer"]["ops_per_s"].as_f64().unwrap();
    let expected = report["ops_per_s"].as_f64().unwrap() / peer["ops_per_s"].as_f64().unwrap();
    assert!((ratio - expected).abs() < 0.01, "{ratio} vs {expected}");
    assert!(report["fsync_floor_us"]["p50"].as_f64().unwrap() > 0.0);
    assert_eq!(report["tenants"], 3);
    assert!(report["ops"].as_u64().unwrap() > 0);
    for kind in ["lookup_us", "write_tx_us", "list_us", "onboarding_us"] {
        for p in ["p50", "p99", "p999", "max"] {
            assert!(
                report[kind][p].as_f64().unwrap() > 0.0,
                "{kind}.{p}: {report}"
            );
        }
    }
    assert_eq!(report["targets"]["lookup_p99_us"], 1000);
    assert_eq!(report["targets"]["write_tx_p99_us"], 5000);
    assert_eq!(report["targets"]["onboarding_p99_us"], 1_000_000);
    assert!(report["targets_met"].is_boolean());
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("write_tx"),
        "{}",
        &svg[..200.min(svg.len())]
    );

    // For people, on the in-memory store, with another mix.
    let text = ok(&Command::new(env!("CARGO_BIN_EXE_coditect"))
        .args([
            "bench",
            "--store",
            "mem",
            "--tenants",
            "2",
            "--duration",
            "0.5",
            "--mix",
            "lookup=1,write=1,list=0",
        ])
        .output()
        .unwrap());
    for expected in ["lookup", "write_tx", "onboarding", "target p99"] {
        assert!(text.contains(expected), "{expected} missing:\n{text}");
    }
}

#[test]
fn bad_input_fails_with_one_line() {
    let dir = store();
    let unknown = "3f1c9e1e-2a55-4e44-9d1b-2b0e4f5d3c11";
    for args in [
        vec!["tenant", "show", unknown],
        vec!["tenant", "suspend", unknown],
        vec!["kv", "range", "--tenant", unknown],
    ] {
        let error = fails(&coditect(dir.path(), &args));
        assert!(error.contains("does not exist"), "{args:?}: {error}");
    }
    for args in [
        vec!["tenant", "show", "not-a-uuid"],
        vec!["tenant", "activate", "00000000-0000-0000-0000-000000000000"],
        vec!["kv", "range", "--tenant", "12345"],
    ] {
        let error = fails(&coditect(dir.path(), &args));
        assert!(error.contains("invalid value"), "{args:?}: {error}");
    }
    fails(&coditect(
        dir.path(),
        &["tenant", "create", "--name", "X", "--domain", "no dots"],
    ));
    fails(&coditect(dir.path(), &["bench", "--tenants", "0"]));
    fails(&coditect(dir.path(), &["bench", "--mix", "scan=5"]));
    fails(&coditect(dir.path(), &["frobnicate"]));

    // A missing directory for the plot, a store path that is a file or lies under one.
    let error = fails(&coditect(
        dir.path(),
        &["bench", "--plot", "/nonexistent-dir/x.svg"],
    ));
    assert!(error.contains("does not exist"), "{error}");
    let elsewhere = store();
    let file = elsewhere.path().join("a-file");
    std::fs::write(&file, b"not a store").unwrap();
    fails(&coditect(&file, &["tenant", "list"]));
    fails(&coditect(&file.join("below"), &["tenant", "list"]));

    // Bad store specs, on the flag and in the environment.
    for spec in ["redis", "sled:", "mem:x"] {
        let output = Command::new(env!("CARGO_BIN_EXE_coditect"))
            .args(["--store", spec, "tenant", "list"])
            .output()
            .unwrap();
        let error = fails(&output);
        assert!(error.contains("--store"), "{spec}: {error}");
    }
    let output = Command::new(env!("CARGO_BIN_EXE_coditect"))
        .args(["tenant", "list"])
        .env("CODITECT_STORE", "nonsense")
        .output()
        .unwrap();
    fails(&output);
    #[cfg(not(feature = "fdb"))]
    {
        let output = Command::new(env!("CARGO_BIN_EXE_coditect"))
            .args(["--store", "fdb", "tenant", "list"])
            .output()
            .unwrap();
        let error = fails(&output);
        assert!(error.contains("--features fdb"), "{error}");
    }
}

#[test]
fn mem_store_starts_empty_and_env_selects_the_store() {
    let dir = store();
    let output = Command::new(env!("CARGO_BIN_EXE_coditect"))
        .args(["tenant", "list", "--json"])
        .env("CODITECT_STORE", format!("sled:{}", dir.path().display()))
        .output()
        .unwrap();
    assert_eq!(json(&output)["tenants"], serde_json::json!([]));
    let output = Command::new(env!("CARGO_BIN_EXE_coditect"))
        .args(["--store", "mem", "demo", "--json"])
        .output()
        .unwrap();
    assert_eq!(json(&output)["store"], "mem");
}

#[test]
fn audit_tail_seal_receipt_verify_and_a_tampered_event() {
    let files = store();
    let dir = files.path().join("store");
    let demo = json(&coditect(&dir, &["demo", "--json"]));
    let id = demo["tenant"]["id"].as_str().unwrap().to_owned();

    let tail = json(&coditect(
        &dir,
        &["audit", "tail", &id, "-n", "3", "--json"],
    ));
    let events = tail["events"].as_array().unwrap();
    assert_eq!(events.len(), 3);
    // The newest event is the agent's comment, by the agent.
    assert_eq!(events[2]["model"], "comment");
    assert_eq!(events[2]["actor"], demo["tenant"]["agent"]["member_id"]);
    let text = ok(&coditect(&dir, &["audit", "tail", &id]));
    assert!(text.contains("create") && text.contains("task"), "{text}");

    let sealed = json(&coditect(&dir, &["audit", "seal", &id, "--json"]));
    assert!(sealed["sealed"].as_u64().unwrap() > 10, "{sealed}");
    let receipt = files.path().join("receipt.txt");
    let receipt_arg = receipt.to_str().unwrap();
    ok(&coditect(
        &dir,
        &["audit", "receipt", &id, "--out", receipt_arg],
    ));
    let verify = ["audit", "verify", &id, "--receipt", receipt_arg, "--json"];
    let verified = json(&coditect(&dir, &verify));
    assert_eq!(verified["ok"], true);
    assert_eq!(verified["count"], sealed["count"]);

    // Change one sealed event's bytes behind the record layer's back.
    let first = ok(&coditect(
        &dir,
        &[
            "kv",
            "range",
            "--tenant",
            &id,
            "--collection",
            "audit",
            "--hex",
            "--limit",
            "1",
        ],
    ));
    let (key, value) = first.trim().split_once(' ').unwrap();
    let unhex = |h: &str| -> Vec<u8> {
        (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
            .collect()
    };
    let (key, mut value) = (unhex(key), unhex(value));
    *value.last_mut().unwrap() ^= 1;
    write_behind_the_command(&dir, |tx| tx.set(&key, &value).unwrap());
    let error = fails(&coditect(&dir, &["audit", "verify", &id]));
    assert!(
        error.contains("is broken") && error.contains("#0") && error.contains("modified"),
        "{error}"
    );

    // Receipts that are missing or not receipts.
    let error = fails(&coditect(
        &dir,
        &["audit", "verify", &id, "--receipt", "/nonexistent/receipt"],
    ));
    assert!(error.contains("reading receipt"), "{error}");
    let garbage = files.path().join("garbage");
    std::fs::write(&garbage, "not a receipt").unwrap();
    fails(&coditect(
        &dir,
        &[
            "audit",
            "verify",
            &id,
            "--receipt",
            garbage.to_str().unwrap(),
        ],
    ));
    fails(&coditect(
        &dir,
        &["audit", "seal", "3f1c9e1e-2a55-4e44-9d1b-2b0e4f5d3c11"],
    ));
}

#[test]
fn tenant_export_import_migrate_copy_erase_and_analytics() {
    let files = store();
    let dir = files.path().join("store");
    let id = demo(&dir);
    let backup = files.path().join("tenant.backup");
    let backup_arg = backup.to_str().unwrap();

    let exported = json(&coditect(
        &dir,
        &["tenant", "export", &id, "--out", backup_arg, "--json"],
    ));
    assert!(exported["records"].as_u64().unwrap() > 50, "{exported}");
    assert_eq!(exported["consistent"], true);
    assert_eq!(
        std::fs::metadata(&backup).unwrap().len(),
        exported["file_bytes"].as_u64().unwrap()
    );

    // Under its own id the tenant is still there; under a new id and domain it imports.
    let error = fails(&coditect(&dir, &["tenant", "import", backup_arg]));
    assert!(error.contains("already exists"), "{error}");
    let restored_id = "3f1c9e1e-2a55-4e44-9d1b-2b0e4f5d3c11";
    let imported = json(&coditect(
        &dir,
        &[
            "tenant",
            "import",
            backup_arg,
            "--as",
            restored_id,
            "--domain",
            "restored.example",
            "--json",
        ],
    ));
    assert_eq!(imported["tenant"], restored_id);
    assert_eq!(imported["source"], id.as_str());
    let shown = json(&coditect(&dir, &["tenant", "show", restored_id, "--json"]));
    assert_eq!(shown["domain"], "restored.example");
    assert_eq!(shown["counts"]["tasks"], 2);

    // Migrate under a new id: the old one stays suspended; the new one's chain verifies.
    let migrated_id = "4f1c9e1e-2a55-4e44-9d1b-2b0e4f5d3c12";
    let text = ok(&coditect(
        &dir,
        &["tenant", "migrate", &id, "--to", migrated_id],
    ));
    assert!(
        text.contains("migrated tenant") && text.contains("m4f1c9e1e.techstartup.example"),
        "{text}"
    );
    assert_eq!(
        json(&coditect(&dir, &["tenant", "show", &id, "--json"]))["status"],
        "suspended"
    );
    let verified = json(&coditect(&dir, &["audit", "verify", migrated_id, "--json"]));
    assert_eq!(verified["ok"], true);

    // Copy into another store, under the same id.
    let other = files.path().join("other-store");
    let copied = json(&coditect(
        &dir,
        &[
            "tenant",
            "copy",
            migrated_id,
            "--to-store",
            &format!("sled:{}", other.display()),
            "--json",
        ],
    ));
    assert_eq!(copied["tenant"], migrated_id);
    let there = json(&coditect(&other, &["tenant", "list", "--json"]));
    assert_eq!(there["tenants"].as_array().unwrap().len(), 1);
    assert_eq!(there["tenants"][0]["id"], migrated_id);

    // Erase the old tenant: it needs --yes, then nothing of it is left.
    let error = fails(&coditect(&dir, &["tenant", "erase", &id]));
    assert!(error.contains("--yes"), "{error}");
    let erased = json(&coditect(
        &dir,
        &[
            "tenant",
            "erase",
            &id,
            "--yes",
            "--actor",
            "ticket-42",
            "--json",
        ],
    ));
    assert!(erased["keys"].as_u64().unwrap() > 50, "{erased}");
    assert_eq!(erased["actor"], "ticket-42");
    fails(&coditect(&dir, &["tenant", "show", &id]));
    let error = fails(&coditect(&dir, &["kv", "range", "--tenant", &id]));
    assert!(error.contains("does not exist"), "{error}");

    // Analytics: TechStartup (restored), TechStartup (migrated) are professional; with k = 2
    // that group shows, the lone starter tenant (Rival Labs) does not.
    let report = json(&coditect(&dir, &["analytics", "--k", "2", "--json"]));
    let groups = report["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{report}");
    assert_eq!(groups[0]["plan"], "professional");
    assert_eq!(groups[0]["tenants"], 2);
    assert_eq!(groups[0]["totals"]["task"], 4);
    let text = ok(&coditect(&dir, &["analytics"]));
    assert!(text.contains("no group"), "{text}");

    // Bad input: a corrupt or missing backup, k below 2, copying a store onto itself.
    let corrupt = files.path().join("corrupt.backup");
    let mut bytes = std::fs::read(&backup).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xFF;
    std::fs::write(&corrupt, &bytes).unwrap();
    let fresh = "5f1c9e1e-2a55-4e44-9d1b-2b0e4f5d3c13";
    let import_corrupt = || {
        let from = corrupt.to_str().unwrap();
        let args = [
            "tenant",
            "import",
            from,
            "--as",
            fresh,
            "--domain",
            "fresh.example",
        ];
        coditect(&dir, &args)
    };
    let error = fails(&import_corrupt());
    assert!(error.contains("importing backup"), "{error}");
    std::fs::write(&corrupt, &bytes[..100]).unwrap();
    fails(&import_corrupt());
    fails(&coditect(&dir, &["tenant", "show", fresh]));
    let error = fails(&coditect(
        &dir,
        &["tenant", "import", "/nonexistent/tenant.backup"],
    ));
    assert!(error.contains("reading backup"), "{error}");
    let error = fails(&coditect(
        &dir,
        &[
            "tenant",
            "export",
            migrated_id,
            "--out",
            "/nonexistent/dir/x.backup",
        ],
    ));
    assert!(error.contains("does not exist"), "{error}");
    fails(&coditect(&dir, &["analytics", "--k", "1"]));
    fails(&coditect(
        &dir,
        &[
            "tenant",
            "copy",
            migrated_id,
            "--to-store",
            &format!("sled:{}", dir.display()),
        ],
    ));
}

#[test]
fn tenant_check_is_clean_on_the_demo_and_names_a_broken_counter_by_its_key() {
    let files = store();
    let dir = files.path().join("store");
    let id = demo(&dir);
    let clean = json(&coditect(&dir, &["tenant", "check", &id, "--json"]));
    assert_eq!(clean["ok"], true, "{clean}");
    assert_eq!(clean["violation_count"], 0);
    assert!(clean["records"].as_u64().unwrap() > 5, "{clean}");
    let text = ok(&coditect(&dir, &["tenant", "check", &id]));
    assert!(text.contains("0 violations"), "{text}");

    // One more task counted than there are, behind the record layer's back.
    let tenant = coditect_core::TenantId::new(id.parse().unwrap()).unwrap();
    let counter = foundationdb_tuple::pack(&(tenant.uuid(), "meta", "count", "task"));
    write_behind_the_command(&dir, |tx| tx.atomic_add(&counter, 1).unwrap());
    let output = coditect(&dir, &["tenant", "check", &id, "--json"]);
    assert!(!output.status.success());
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["ok"], false);
    let hex: String = counter.iter().map(|b| format!("{b:02x}")).collect();
    let violations = report["violations"].as_array().unwrap();
    assert_eq!(violations.len(), 1, "{report}");
    assert_eq!(violations[0]["kind"], "counter_mismatch");
    assert_eq!(violations[0]["key"], hex.as_str());
    let output = coditect(&dir, &["tenant", "check", &id]);
    assert!(!output.status.success());
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(
        stdout.contains("counter_mismatch") && stdout.contains("\\x02count\\x00\\x02task"),
        "{stdout}"
    );
    assert!(
        stderr.starts_with("error: ") && stderr.contains("1 violations"),
        "{stderr}"
    );
}

/// `tenant stats` and `stats` print the meters the demo's transactions left: as text and as
/// JSON, the busiest tenant by name and the other summed, totals adding up.
#[test]
fn tenant_stats_and_stats_show_the_demo_meters() {
    let dir = store();
    let demo = json(&coditect(dir.path(), &["demo", "--json"]));
    let id = demo["tenant"]["id"].as_str().unwrap();
    let one = json(&coditect(dir.path(), &["tenant", "stats", id, "--json"]));
    assert_eq!(one["tenant"], id);
    assert!(one["meters"]["commits"].as_u64().unwrap() >= 1);
    assert!(one["meters"]["writes"].as_u64().unwrap() > 0);
    let text = ok(&coditect(dir.path(), &["tenant", "stats", id]));
    assert!(text.contains("bytes_written"), "{text}");
    let all = json(&coditect(dir.path(), &["stats", "--top", "1", "--json"]));
    assert_eq!(all["top"].as_array().unwrap().len(), 1);
    assert_eq!(all["rest"]["tenants"], 1);
    let sum = all["top"][0]["meters"]["commits"].as_u64().unwrap()
        + all["rest"]["meters"]["commits"].as_u64().unwrap();
    assert_eq!(all["total"]["commits"].as_u64().unwrap(), sum);
}
