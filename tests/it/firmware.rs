use mdm::auth::Role;
use reqwest::header;
use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{spawn_app, SendJson, TestApp};

fn package_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

async fn upload_form(app: &TestApp, fields: &[(&str, &str)], file: Vec<u8>) -> reqwest::Response {
    let csrf = app.csrf("/firmware/packages/new").await;
    let mut form = reqwest::multipart::Form::new().text("csrf", csrf);
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    form = form.part(
        "file",
        reqwest::multipart::Part::bytes(file).file_name("delta.bin"),
    );
    app.client
        .post(app.url("/firmware/packages/new"))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// Files in the blob store's temp folder: a failed upload must leave none.
fn temp_uploads(app: &TestApp) -> usize {
    std::fs::read_dir(app.data_dir.join("blobs/tmp"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[tokio::test]
async fn packages_upload_move_through_their_lifecycle_and_download_with_resume() {
    let app = spawn_app().await;
    app.add_user("fred", "firmware-pass-1", Role::Firmware)
        .await;
    assert_eq!(
        app.login("fred", "firmware-pass-1").await.status().as_u16(),
        303
    );

    // Bad fields and an oversized file are refused and leave nothing behind.
    let r = upload_form(
        &app,
        &[
            ("make", "Samsung"),
            ("model", "SCH-U960"),
            ("from_version", "U960.07"),
        ],
        package_bytes(100),
    )
    .await;
    assert_eq!(r.status().as_u16(), 422);
    assert!(r.text().await.unwrap().contains("to_version"));
    let r = upload_form(
        &app,
        &[
            ("make", "Samsung"),
            ("model", "SCH-U960"),
            ("from_version", "U960.05"),
            ("to_version", "U960.07"),
        ],
        package_bytes(2 * 1024 * 1024),
    )
    .await;
    assert_eq!(r.status().as_u16(), 413);
    assert!(r.text().await.unwrap().contains("upload limit"));
    assert_eq!(temp_uploads(&app), 0);
    let (_, html) = app.page("/firmware").await;
    assert!(html.contains("No packages yet"));

    let body = package_bytes(300_000);
    let r = upload_form(
        &app,
        &[
            ("make", "Samsung"),
            ("model", "SCH-U960"),
            ("from_version", "U960.05"),
            ("to_version", "U960.07"),
            ("release_notes", "Fixes <911> dialing"),
        ],
        body.clone(),
    )
    .await;
    assert_eq!(r.status().as_u16(), 303);
    let page = r.headers()["location"].to_str().unwrap().to_string();
    let id: i64 = page.rsplit('/').next().unwrap().parse().unwrap();
    let (_, html) = app.page(&page).await;
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&body))
    };
    assert!(html.contains(&sha), "SHA-256 shown");
    assert!(html.contains("created as draft"));

    // Drafts are invisible to devices.
    assert_eq!(
        app.get(&format!("/dl/{id}/package"))
            .await
            .status()
            .as_u16(),
        404
    );
    let csrf = app.csrf(&page).await;
    let r = app
        .post_form(
            &format!("/firmware/packages/{id}/state"),
            &[("csrf", &csrf), ("state", "released")],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    let (_, html) = app.page(&page).await;
    assert!(
        html.contains("A draft package cannot become released"),
        "skipping testing is refused"
    );
    for s in ["testing", "released"] {
        app.post_form(
            &format!("/firmware/packages/{id}/state"),
            &[("csrf", &csrf), ("state", s), ("note", "QA passed")],
        )
        .await;
    }
    let (_, html) = app.page(&page).await;
    assert!(
        html.contains("draft → testing")
            && html.contains("testing → released")
            && html.contains("QA passed")
    );
    assert!(html.contains("user:fred"));

    // Whole download, then a resumed one.
    let r = app.get(&format!("/dl/{id}/package")).await;
    assert_eq!(r.status().as_u16(), 200);
    let etag = r.headers()[header::ETAG].to_str().unwrap().to_string();
    assert_eq!(etag, format!("\"{sha}\""));
    assert_eq!(r.bytes().await.unwrap().as_ref(), body.as_slice());
    let r = app
        .client
        .get(app.url(&format!("/dl/{id}/package")))
        .header(header::RANGE, "bytes=100000-")
        .header(header::IF_RANGE, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 206);
    assert_eq!(
        r.headers()[header::CONTENT_RANGE],
        "bytes 100000-299999/300000"
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), &body[100_000..]);
    // A stale If-Range gets the whole file again.
    let r = app
        .client
        .get(app.url(&format!("/dl/{id}/package")))
        .header(header::RANGE, "bytes=100000-")
        .header(header::IF_RANGE, "\"other\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = app
        .client
        .get(app.url(&format!("/dl/{id}/package")))
        .header(header::RANGE, "bytes=400000-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 416);

    // The download descriptor and the install report.
    let r = app.get(&format!("/dl/{id}/dd")).await;
    assert_eq!(
        r.headers()[header::CONTENT_TYPE],
        "application/vnd.oma.dd+xml"
    );
    let dd = r.text().await.unwrap();
    assert!(dd.contains(&format!("/dl/{id}/package</objectURI>")));
    assert!(dd.contains(&format!("/dl/{id}/notify</installNotifyURI>")));
    assert!(dd.contains("<size>300000</size>") && dd.contains("Fixes &lt;911&gt; dialing"));
    let r = app
        .client
        .post(app.url(&format!("/dl/{id}/notify")))
        .body("900 Success")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = app
        .client
        .post(app.url(&format!("/dl/{id}/notify")))
        .body("904 Nonsense")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = app
        .client
        .post(app.url("/dl/999/notify"))
        .body("954 Loader Error")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let (_, html) = app.page(&page).await;
    assert!(html.contains("<td class=\"num\">900</td>"));
    assert!(!html.contains("<td class=\"num\">904</td>"));

    // The matrix shows the path from U960.05.
    let (_, html) = app.page("/firmware").await;
    assert!(html.contains("→ U960.07 (delta)"), "{html}");

    // Withdrawn packages are no longer served.
    app.post_form(
        &format!("/firmware/packages/{id}/state"),
        &[("csrf", &csrf), ("state", "withdrawn")],
    )
    .await;
    assert_eq!(
        app.get(&format!("/dl/{id}/package"))
            .await
            .status()
            .as_u16(),
        404
    );
}

#[tokio::test]
async fn the_api_uploads_checks_hashes_and_answers_which_update_applies() {
    let app = spawn_app().await;
    let (_, token) = app.token(Role::Firmware).await;
    let body = package_bytes(5000);
    let r = app
        .api(Method::POST, "/firmware/packages?make=LG&model=VX9600&from_version=VX9600V04&to_version=VX9600V06&sha256=00", &token)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.json::<Value>().await.unwrap()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("SHA-256"));
    let r = app
        .api(
            Method::POST,
            "/firmware/packages?make=LG&model=VX9600&from_version=VX9600V04&to_version=VX9600V06",
            &token,
        )
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let p: Value = r.json().await.unwrap();
    let id = p["id"].as_i64().unwrap();
    let r = app
        .api(
            Method::POST,
            "/firmware/packages?make=LG&model=VX9600&to_version=VX9600V07",
            &token,
        )
        .body(package_bytes(10))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let full: Value = r.json().await.unwrap();

    let update = |v: &str| {
        app.api(
            Method::GET,
            &format!("/firmware/update?make=LG&model=VX9600&version={v}"),
            &token,
        )
        .send()
    };
    let none: Value = update("VX9600V04").await.unwrap().json().await.unwrap();
    assert_eq!(none["update"], false, "drafts are never offered");
    for pid in [id, full["id"].as_i64().unwrap()] {
        for s in ["testing", "released"] {
            let r = app
                .api(
                    Method::POST,
                    &format!("/firmware/packages/{pid}/state"),
                    &token,
                )
                .json(&json!({"state": s}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
        }
    }
    let r = app
        .api(
            Method::POST,
            &format!("/firmware/packages/{id}/state"),
            &token,
        )
        .json(&json!({"state": "draft"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 409);
    let a: Value = update("VX9600V04").await.unwrap().json().await.unwrap();
    assert_eq!(a["package"]["id"], id, "the delta from this exact version");
    let b: Value = update("VX9600V05").await.unwrap().json().await.unwrap();
    assert_eq!(
        b["package"]["to_version"], "VX9600V07",
        "otherwise a newer full image"
    );
    let c: Value = update("VX9600V07").await.unwrap().json().await.unwrap();
    assert_eq!(c["update"], false);
    let got: Value = app
        .api(Method::GET, &format!("/firmware/packages/{id}"), &token)
        .send_json()
        .await;
    assert_eq!(got["revisions"].as_array().unwrap().len(), 3);

    // Care agents cannot touch the repository.
    let (_, care) = app.token(Role::Care).await;
    let r = app
        .api(
            Method::POST,
            "/firmware/packages?make=LG&model=VX9600&to_version=VX9600V08",
            &care,
        )
        .body(package_bytes(10))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
}
