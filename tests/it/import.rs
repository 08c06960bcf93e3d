use crate::common::spawn_app;

const GOOD: &str =
    "mdn,min,account_id,subscriber_name,sid_nid_pairs,prl_id,esn,meid,make,model,firmware_version\n\
3125550100,3125550100,ACC1,Ana Alvarez,4145/65535,10001,9F100001,,Samsung,SCH-U350,U350.01\n\
3125550101,3125550101,ACC2,Ben Brooks,4145/65535,10001,,A0000000002329,LG,VX9600,VX9600V04\n\
,,,,,,A3100007,,LG,VX8360,VX8360V03\n";

#[tokio::test]
async fn a_good_csv_imports_subscribers_and_devices_linked_together() {
    let app = spawn_app().await;
    app.login_admin().await;
    let html = app.upload_import("pos.csv", GOOD).await;
    assert!(html.contains("data-state=\"imported\""), "{html}");
    assert!(html.contains("Imported all 3 line(s)"));
    assert_eq!(app.count("profiles").await, 2);
    assert_eq!(app.count("devices").await, 3);
    let (_, html) = app.page("/devices?mdn=3125550101").await;
    assert!(html.contains("A0000000002329"));
    let (_, html) = app.page("/devices/import").await;
    assert!(html.contains("pos.csv"));
}

#[tokio::test]
async fn a_csv_with_any_bad_line_imports_nothing_and_reports_each_line() {
    let app = spawn_app().await;
    app.login_admin().await;
    // Line 3 has a bad ESN, line 4 repeats line 2's MDN, line 5 lacks a model.
    let bad = "mdn,min,account_id,subscriber_name,sid_nid_pairs,esn,make,model,firmware_version\n\
3125550100,3125550100,ACC1,Ana,4145/65535,9F100001,Samsung,SCH-U350,U350.01\n\
3125550102,3125550102,ACC3,Chloe,4145/65535,XYZ,Samsung,SCH-U350,U350.01\n\
3125550100,3125550100,ACC1,Ana again,4145/65535,9F100003,Samsung,SCH-U350,U350.01\n\
3125550104,3125550104,ACC5,Dev,4145/65535,9F100004,Samsung,,U350.01\n";
    let html = app.upload_import("bad.csv", bad).await;
    assert!(html.contains("data-state=\"rejected\""), "{html}");
    assert!(
        html.contains("Nothing was imported: 3 problem(s)"),
        "{html}"
    );
    assert!(
        html.contains("<td class=\"num\">3</td><td>esn: ESN must be"),
        "{html}"
    );
    assert!(html.contains("MDN 3125550100 also appears on line 2"));
    assert!(html.contains("<td class=\"num\">5</td><td>model: is required"));
    assert_eq!(app.count("profiles").await, 0);
    assert_eq!(app.count("devices").await, 0);

    // A line clashing with what is already registered is refused the same way.
    app.upload_import("first.csv", GOOD).await;
    let again = "mdn,min,account_id,subscriber_name,sid_nid_pairs\n3125550199,3125550199,ACC9,New,4145/65535\n3125550100,3125550100,ACC1,Dup,4145/65535\n";
    let html = app.upload_import("again.csv", again).await;
    assert!(
        html.contains("MDN 3125550100 is already registered to profile"),
        "{html}"
    );
    assert_eq!(app.count("profiles").await, 2);

    let html = app
        .upload_import("cols.csv", "mdn,colour\n3125550100,red\n")
        .await;
    assert!(html.contains("unknown column"), "{html}");

    // A column named twice would have its second copy ignored: refused,
    // naming it.
    let html = app
        .upload_import(
            "twice.csv",
            "mdn,min,mdn,account_id\n3125550198,3125550198,3125550197,ACC9\n",
        )
        .await;
    assert!(html.contains("data-state=\"rejected\""), "{html}");
    assert!(
        html.contains(
            "column &#34;mdn&#34; appears more than once (columns 1 and 3); name each column once"
        ),
        "{html}"
    );
    assert_eq!(app.count("profiles").await, 2);
}

/// A line whose MDN another writer registers after the file was checked
/// (a second import, a care agent) is reported at its line, and the file
/// imports nothing.
#[tokio::test]
async fn a_line_registered_meanwhile_is_reported_at_its_line() {
    use mdm::registry::import::{import_csv, Progress};
    use mdm::registry::{profile, Actor};
    use std::sync::atomic::Ordering;
    use std::sync::mpsc;
    let app = spawn_app().await;
    let progress = Progress::shared();
    let (inserted_tx, inserted_rx) = mpsc::channel::<()>();
    // The other writer: registers line 3's MDN and commits only once the
    // import has checked every line against the registry.
    let other = {
        let db = app.db.clone();
        let progress = progress.clone();
        std::thread::spawn(move || {
            use diesel::Connection;
            let mut c = db.get().unwrap();
            c.transaction(|c| {
                profile::create(
                    c,
                    &Actor::System("care"),
                    &profile::ProfileDraft {
                        mdn: Some("3125550101".into()),
                        min: Some("3125550101".into()),
                        account_id: Some("ACC9".into()),
                        subscriber_name: Some("Zoe".into()),
                        sid_nid_pairs: Some("4145/65535".into()),
                        ..Default::default()
                    },
                )?;
                inserted_tx.send(()).unwrap();
                while progress.checked.load(Ordering::Relaxed) < 2 {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                std::thread::sleep(std::time::Duration::from_millis(300));
                Ok::<_, mdm::registry::RegistryError>(())
            })
            .unwrap();
        })
    };
    inserted_rx.recv().unwrap();
    let db = app.db.clone();
    let report = tokio::task::spawn_blocking(move || {
        let mut c = db.get().unwrap();
        import_csv(
            &mut c,
            &Actor::System("pos"),
            "mdn,min,account_id,subscriber_name,sid_nid_pairs\n\
             3125550100,3125550100,ACC1,Ana,4145/65535\n\
             3125550101,3125550101,ACC2,Ben,4145/65535\n"
                .as_bytes(),
            &progress,
        )
    })
    .await
    .unwrap()
    .expect("a report, not a failure");
    other.join().unwrap();
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    assert_eq!(report.errors[0].line, 3);
    assert!(
        report.errors[0]
            .message
            .contains("MDN 3125550101 is already registered")
            && report.errors[0]
                .message
                .ends_with("(since this file was checked)"),
        "{:?}",
        report.errors
    );
    assert_eq!((report.profiles, report.devices), (0, 0));
    // Only the other writer's subscriber: the file imported nothing.
    assert_eq!(app.count("profiles").await, 1);
}
