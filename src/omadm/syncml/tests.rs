//! Codec tests: the OMA DM 1.2 package examples, round trips of every
//! command in both encodings, libwbxml's `wbxml2xml` as an independent
//! WBXML decoder, and hostile input.

use std::path::PathBuf;
use std::process::Command as Process;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;

use super::*;
use crate::wbxml::codepages::{devinf::DEVINF_12, syncml::SYNCML_12};
use crate::wbxml::{Document, Element};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const WBXML2XML: &str = "/usr/bin/wbxml2xml";
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Decode `bytes` with libwbxml's wbxml2xml and return its XML. Fails the
/// test when the tool is missing, fails, or reports unknown tokens (it
/// exits 0 for those and prints them as "unknown").
fn wbxml2xml(bytes: &[u8]) -> String {
    assert!(
        std::path::Path::new(WBXML2XML).exists(),
        "{WBXML2XML} is missing: install Debian package libwbxml2-utils"
    );
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir: PathBuf = std::env::temp_dir().join(format!("syncml-test-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let input = dir.join("in.wbxml");
    let output = dir.join("out.xml");
    std::fs::write(&input, bytes).expect("write input");
    let result = Process::new(WBXML2XML)
        .arg("-o")
        .arg(&output)
        .arg(&input)
        .output()
        .expect("run wbxml2xml");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    assert!(result.status.success(), "wbxml2xml failed: {log}");
    let xml =
        String::from_utf8_lossy(&std::fs::read(&output).expect("wbxml2xml output")).into_owned();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!log.contains("failed"), "wbxml2xml reported: {log}");
    assert!(
        !xml.to_ascii_lowercase().contains("unknown"),
        "wbxml2xml did not recognise some tokens:\n{xml}"
    );
    xml
}

fn assert_contains_all(haystack: &str, needles: &[&str]) {
    for needle in needles {
        assert!(
            haystack.contains(needle),
            "missing {needle:?} in:\n{haystack}"
        );
    }
}

fn round_trip_both(msg: &Message) {
    let xml = msg.to_xml();
    assert_eq!(
        Message::from_xml(&xml).as_ref(),
        Ok(msg),
        "XML round trip of\n{xml}"
    );
    let bytes = msg.to_wbxml().expect("encode WBXML");
    assert_eq!(
        Message::from_wbxml(&bytes).as_ref(),
        Ok(msg),
        "WBXML round trip"
    );
    for enc in [Encoding::Xml, Encoding::Wbxml] {
        let bytes = msg.encode(enc).expect("encode");
        assert_eq!(Message::decode(&bytes, enc).as_ref(), Ok(msg), "{enc:?}");
    }
}

fn hdr(msg_id: u32, target: &str, source: &str) -> SyncHdr {
    SyncHdr {
        ver_dtd: "1.2".into(),
        ver_proto: "DM/1.2".into(),
        session_id: "1".into(),
        msg_id,
        target: target.into(),
        source: source.into(),
        source_name: None,
        resp_uri: None,
        cred: None,
        max_msg_size: None,
        max_obj_size: None,
    }
}

fn target_item(uri: &str) -> Item {
    Item {
        target: Some(uri.into()),
        ..Item::default()
    }
}

fn text_item(target: Option<&str>, source: Option<&str>, data: &str) -> Item {
    Item {
        target: target.map(Into::into),
        source: source.map(Into::into),
        meta: None,
        data: Some(ItemData::Text(data.into())),
        more_data: false,
    }
}

// ------------------------------------------------------------- package 1

/// MD5 digest of the example credential: the 16 bytes that the base64
/// text in PACKAGE1 stands for.
const PACKAGE1_DIGEST_B64: &str = "n9ZMD2rbJl3dsJG6XvX8Jg==";

/// Client package 1 in the shape of the OMA-TS-DM_Protocol-V1_2 example
/// (client-initiated session, DevInfo in a Replace), with an MD5
/// credential as in OMA-TS-DM_Security-V1_2. Written as a device would:
/// indented, commented, Type before Format, single-quoted namespace.
const PACKAGE1: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<SyncML xmlns='SYNCML:SYNCML1.2'>
  <SyncHdr>
    <VerDTD>1.2</VerDTD>
    <VerProto>DM/1.2</VerProto>
    <SessionID>1</SessionID>
    <MsgID>1</MsgID>
    <Target>
      <LocURI>http://www.syncml.org/mgmt-server</LocURI>
    </Target>
    <Source>
      <LocURI>IMEI:493005100592800</LocURI>
      <LocName>Bruce2</LocName>
    </Source>
    <Cred> <!-- client credentials, mandatory without transport authentication -->
      <Meta>
        <Type xmlns='syncml:metinf'>syncml:auth-md5</Type>
        <Format xmlns='syncml:metinf'>b64</Format>
      </Meta>
      <Data>n9ZMD2rbJl3dsJG6XvX8Jg==</Data>
    </Cred>
    <Meta> <!-- largest message the client accepts -->
      <MaxMsgSize xmlns='syncml:metinf'>5000</MaxMsgSize>
    </Meta>
  </SyncHdr>
  <SyncBody>
    <Alert>
      <CmdID>1</CmdID>
      <Data>1201</Data>
    </Alert>
    <Replace>
      <CmdID>3</CmdID>
      <Item>
        <Source><LocURI>./DevInfo/DevId</LocURI></Source>
        <Data>IMEI:493005100592800</Data>
      </Item>
      <Item>
        <Source><LocURI>./DevInfo/Man</LocURI></Source>
        <Data>Device Factory, Inc.</Data>
      </Item>
      <Item>
        <Source><LocURI>./DevInfo/Mod</LocURI></Source>
        <Data>SmartPhone2000</Data>
      </Item>
      <Item>
        <Source><LocURI>./DevInfo/DmV</LocURI></Source>
        <Data>1.2.0</Data>
      </Item>
      <Item>
        <Source><LocURI>./DevInfo/Lang</LocURI></Source>
        <Data>en-US</Data>
      </Item>
    </Replace>
    <Final/>
  </SyncBody>
</SyncML>
"#;

#[test]
fn package1_decodes_field_by_field_and_survives_wbxml() {
    let msg = Message::from_xml(PACKAGE1).expect("decode package 1");
    let h = &msg.hdr;
    assert_eq!(h.ver_dtd, "1.2");
    assert_eq!(h.ver_proto, "DM/1.2");
    assert_eq!(h.session_id, "1");
    assert_eq!(h.msg_id, 1);
    assert_eq!(h.target, "http://www.syncml.org/mgmt-server");
    assert_eq!(h.source, "IMEI:493005100592800");
    assert_eq!(h.source_name.as_deref(), Some("Bruce2"));
    assert_eq!(h.resp_uri, None);
    assert_eq!(h.max_msg_size, Some(5000));
    assert_eq!(h.max_obj_size, None);
    let cred = h.cred.as_ref().expect("Cred");
    assert_eq!(cred.auth_type, "syncml:auth-md5");
    assert_eq!(cred.format.as_deref(), Some("b64"));
    assert_eq!(cred.data, B64.decode(PACKAGE1_DIGEST_B64).expect("b64"));
    assert_eq!(cred.data.len(), 16, "an MD5 digest");

    assert!(msg.body.final_);
    assert_eq!(msg.body.commands.len(), 2);
    let Command::Alert(alert) = &msg.body.commands[0] else {
        panic!("first command should be Alert: {:?}", msg.body.commands[0]);
    };
    assert_eq!(
        alert,
        &Alert {
            cmd_id: 1,
            data: alert_code::CLIENT_INITIATED,
            correlator: None,
            items: vec![],
        }
    );
    let Command::Replace(replace) = &msg.body.commands[1] else {
        panic!("second command should be Replace");
    };
    assert_eq!(replace.cmd_id, 3);
    assert_eq!(replace.meta, None);
    assert_eq!(replace.correlator, None);
    let expected = [
        ("./DevInfo/DevId", "IMEI:493005100592800"),
        ("./DevInfo/Man", "Device Factory, Inc."),
        ("./DevInfo/Mod", "SmartPhone2000"),
        ("./DevInfo/DmV", "1.2.0"),
        ("./DevInfo/Lang", "en-US"),
    ];
    assert_eq!(replace.items.len(), expected.len());
    for (item, (uri, value)) in replace.items.iter().zip(expected) {
        assert_eq!(item, &text_item(None, Some(uri), value));
    }

    let bytes = msg.to_wbxml().expect("encode WBXML");
    assert_eq!(
        &bytes[..4],
        &[0x03, 0x00, 0x00, 0x6A],
        "WBXML 1.3, string-table id, UTF-8"
    );
    assert_eq!(Message::from_wbxml(&bytes), Ok(msg.clone()));
    // And the canonical XML we write decodes to the same message.
    assert_eq!(Message::from_xml(&msg.to_xml()), Ok(msg));
}

#[test]
fn xml_output_has_namespaces_and_dtd_order() {
    let msg = Message::from_xml(PACKAGE1).expect("decode package 1");
    let xml = msg.to_xml();
    assert!(xml.starts_with(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><SyncML xmlns=\"SYNCML:SYNCML1.2\">"
    ));
    assert_contains_all(
        &xml,
        &[
            "<Cred><Meta><Format xmlns=\"syncml:metinf\">b64</Format><Type xmlns=\"syncml:metinf\">syncml:auth-md5</Type></Meta><Data>n9ZMD2rbJl3dsJG6XvX8Jg==</Data></Cred>",
            "<Meta><MaxMsgSize xmlns=\"syncml:metinf\">5000</MaxMsgSize></Meta>",
            "<VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID><MsgID>1</MsgID><Target>",
            "<Source><LocURI>IMEI:493005100592800</LocURI><LocName>Bruce2</LocName></Source>",
            "<Final/></SyncBody></SyncML>",
        ],
    );
}

// ------------------------------------------------------------- package 2

const NONCE: &[u8] = b"\x12\x9a\xff\x00nonce-bytes";

/// Server package 2: Status for the client's SyncHdr with a fresh MD5
/// challenge, Status for the Alert and Replace, then the management
/// commands of a FUMO download-and-update (OMA-TS-DM_Protocol-V1_2
/// "Package 2", OMA-TS-DM-FUMO-V1_0 "Exec").
fn package2() -> Message {
    let mut hdr = hdr(1, "IMEI:493005100592800", "https://dm.example.com/dm");
    hdr.resp_uri = Some("https://dm.example.com/dm?s=1a2b".into());
    let status = |cmd_id, cmd_ref, cmd: &str, data| Status {
        cmd_id,
        msg_ref: 1,
        cmd_ref,
        cmd: cmd.into(),
        target_refs: vec![],
        source_refs: vec![],
        chal: None,
        data,
        items: vec![],
    };
    let mut hdr_status = status(1, 0, "SyncHdr", 212);
    hdr_status.target_refs = vec!["https://dm.example.com/dm".into()];
    hdr_status.source_refs = vec!["IMEI:493005100592800".into()];
    hdr_status.chal = Some(Chal {
        auth_type: "syncml:auth-md5".into(),
        format: "b64".into(),
        next_nonce: NONCE.to_vec(),
    });
    Message {
        hdr,
        body: SyncBody {
            commands: vec![
                Command::Status(hdr_status),
                Command::Status(status(2, 1, "Alert", 200)),
                Command::Status(status(3, 3, "Replace", 200)),
                Command::Get(ItemCmd {
                    cmd_id: 4,
                    correlator: None,
                    meta: None,
                    items: vec![target_item("./DevDetail/FwV")],
                }),
                Command::Replace(ItemCmd {
                    cmd_id: 5,
                    correlator: None,
                    meta: None,
                    items: vec![Item {
                        target: Some("./FUMO/pkg1/PkgURL".into()),
                        source: None,
                        meta: Some(Meta {
                            format: Some("chr".into()),
                            r#type: Some("text/plain".into()),
                            ..Meta::default()
                        }),
                        data: Some(ItemData::Text(
                            "https://fw.example.com/dl/x100-4.2.1.dd?a=1&b=2".into(),
                        )),
                        more_data: false,
                    }],
                }),
                Command::Exec(ItemCmd {
                    cmd_id: 6,
                    correlator: Some("fumo-job-42".into()),
                    meta: None,
                    items: vec![target_item("./FUMO/pkg1/DownloadAndUpdate")],
                }),
            ],
            final_: true,
        },
    }
}

#[test]
fn package2_wbxml_is_accepted_by_libwbxml_and_decodes_back() {
    let msg = package2();
    let bytes = msg.to_wbxml().expect("encode");
    let xml = wbxml2xml(&bytes);
    let nonce_b64 = B64.encode(NONCE);
    assert_contains_all(
        &xml,
        &[
            "<SyncML",
            "<VerProto>DM/1.2</VerProto>",
            "<RespURI>https://dm.example.com/dm?s=1a2b</RespURI>",
            "<Status>",
            "<Cmd>SyncHdr</Cmd>",
            "<CmdRef>0</CmdRef>",
            "<Chal>",
            "syncml:auth-md5",
            "<NextNonce",
            &nonce_b64,
            "<Data>212</Data>",
            "<Get>",
            "./DevDetail/FwV",
            "<Replace>",
            "./FUMO/pkg1/PkgURL",
            // libwbxml writes text with `&` as CDATA.
            "https://fw.example.com/dl/x100-4.2.1.dd?a=1&b=2",
            "<Exec>",
            "<Correlator>fumo-job-42</Correlator>",
            "./FUMO/pkg1/DownloadAndUpdate",
            "<Final",
        ],
    );
    assert_eq!(Message::from_wbxml(&bytes), Ok(msg.clone()));
    // The nonce is base64 text in WBXML too (Format b64), not OPAQUE.
    let doc = msg.to_document();
    let nonce = doc
        .root
        .find("SyncBody")
        .and_then(|b| b.find("Status"))
        .and_then(|s| s.find("Chal"))
        .and_then(|c| c.find("Meta"))
        .and_then(|m| m.find("NextNonce"))
        .expect("NextNonce");
    assert_eq!(nonce.children, vec![crate::wbxml::Node::Text(nonce_b64)]);
    round_trip_both(&msg);
}

// ---------------------------------------------------- generic alert 1226

/// Client report of a finished FUMO DownloadAndUpdate
/// (OMA-TS-DM_Protocol-V1_2 "Generic Alert", OMA-TS-DM-FUMO-V1_0 "Generic Alert").
const GENERIC_ALERT: &str = r#"<SyncML xmlns="SYNCML:SYNCML1.2">
 <SyncHdr>
  <VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto>
  <SessionID>2A</SessionID><MsgID>1</MsgID>
  <Target><LocURI>https://dm.example.com/dm</LocURI></Target>
  <Source><LocURI>IMEI:493005100592800</LocURI></Source>
 </SyncHdr>
 <SyncBody>
  <Alert><CmdID>1</CmdID><Data>1201</Data></Alert>
  <Alert>
   <CmdID>2</CmdID>
   <Data>1226</Data>
   <Correlator>fumo-job-42</Correlator>
   <Item>
    <Source><LocURI>./FUMO/pkg1/DownloadAndUpdate</LocURI></Source>
    <Meta>
     <Type xmlns="syncml:metinf">org.openmobilealliance.dm.firmwareupdate.downloadandupdate</Type>
     <Format xmlns="syncml:metinf">int</Format>
     <Mark xmlns="syncml:metinf">critical</Mark>
    </Meta>
    <Data>410</Data>
   </Item>
  </Alert>
  <Final/>
 </SyncBody>
</SyncML>"#;

#[test]
fn generic_alert_with_fumo_result_code() {
    let msg = Message::from_xml(GENERIC_ALERT).expect("decode");
    assert_eq!(msg.hdr.session_id, "2A");
    let Some(Command::Alert(alert)) = msg.body.commands.get(1) else {
        panic!("second command should be an Alert");
    };
    assert_eq!(alert.cmd_id, 2);
    assert_eq!(alert.data, alert_code::GENERIC_ALERT);
    assert_eq!(alert.correlator.as_deref(), Some("fumo-job-42"));
    assert_eq!(
        alert.items,
        vec![Item {
            target: None,
            source: Some("./FUMO/pkg1/DownloadAndUpdate".into()),
            meta: Some(Meta {
                format: Some("int".into()),
                r#type: Some("org.openmobilealliance.dm.firmwareupdate.downloadandupdate".into()),
                size: None,
                mark: Some("critical".into()),
            }),
            data: Some(ItemData::Text("410".into())),
            more_data: false,
        }]
    );
    round_trip_both(&msg);
    let xml = wbxml2xml(&msg.to_wbxml().expect("encode"));
    assert_contains_all(
        &xml,
        &[
            "<Data>1226</Data>",
            "critical",
            "org.openmobilealliance.dm.firmwareupdate.downloadandupdate",
            "<Data>410</Data>",
        ],
    );
}

// -------------------------------------------------- every command type

fn every_command() -> Vec<Command> {
    let item_cmd = |cmd_id, items| ItemCmd {
        cmd_id,
        correlator: None,
        meta: None,
        items,
    };
    vec![
        Command::Alert(Alert {
            cmd_id: 1,
            data: alert_code::NEXT_MESSAGE,
            correlator: None,
            items: vec![text_item(Some("https://dm.example.com/dm"), None, "")],
        }),
        Command::Status(Status {
            cmd_id: 2,
            msg_ref: 3,
            cmd_ref: 4,
            cmd: "Get".into(),
            target_refs: vec!["./DevDetail/SwV".into()],
            source_refs: vec![],
            chal: Some(Chal {
                auth_type: "syncml:auth-basic".into(),
                format: "b64".into(),
                next_nonce: vec![],
            }),
            data: 404,
            items: vec![text_item(None, None, "no such node")],
        }),
        Command::Results(Results {
            cmd_id: 3,
            msg_ref: 2,
            cmd_ref: 4,
            items: vec![Item {
                target: None,
                source: Some("./DevDetail/FwV".into()),
                meta: Some(Meta {
                    format: Some("chr".into()),
                    r#type: Some("text/plain".into()),
                    size: Some(5),
                    mark: None,
                }),
                data: Some(ItemData::Text("4.2.1".into())),
                more_data: false,
            }],
        }),
        // MsgRef is optional in Results; 0 stands for "absent".
        Command::Results(Results {
            cmd_id: 4,
            msg_ref: 0,
            cmd_ref: 5,
            items: vec![text_item(None, Some("./DevInfo/Lang"), "de-DE")],
        }),
        Command::Get(item_cmd(
            5,
            vec![
                target_item("./DevDetail/FwV"),
                target_item("./DevDetail/HwV"),
            ],
        )),
        Command::Replace(ItemCmd {
            cmd_id: 6,
            correlator: None,
            meta: Some(Meta {
                format: Some("b64".into()),
                ..Meta::default()
            }),
            items: vec![Item {
                data: Some(ItemData::Binary(vec![0, 1, 2, 0xfe, 0xff])),
                ..target_item("./Vendor/Blob")
            }],
        }),
        Command::Add(item_cmd(
            7,
            vec![Item {
                meta: Some(Meta {
                    format: Some("node".into()),
                    ..Meta::default()
                }),
                ..target_item("./FUMO/pkg2")
            }],
        )),
        Command::Delete(item_cmd(8, vec![target_item("./FUMO/pkg2")])),
        Command::Exec(ItemCmd {
            cmd_id: 9,
            correlator: Some("c-9".into()),
            meta: None,
            items: vec![text_item(Some("./FUMO/pkg1/Update"), None, "")],
        }),
        Command::Copy(item_cmd(
            10,
            vec![text_item(Some("./Backup/Lang"), Some("./DevInfo/Lang"), "")],
        )),
        Command::Sequence(Container {
            cmd_id: 11,
            commands: vec![
                Command::Get(item_cmd(12, vec![target_item("./DevInfo/Mod")])),
                Command::Replace(item_cmd(
                    13,
                    vec![text_item(Some("./Settings/Volume"), None, "7")],
                )),
            ],
        }),
        Command::Atomic(Container {
            cmd_id: 14,
            commands: vec![
                Command::Add(item_cmd(
                    15,
                    vec![text_item(Some("./A/B"), None, "x < y & z")],
                )),
                Command::Delete(item_cmd(16, vec![target_item("./A/C")])),
                Command::Sequence(Container {
                    cmd_id: 17,
                    commands: vec![Command::Exec(item_cmd(18, vec![target_item("./A/Run")]))],
                }),
            ],
        }),
        Command::Unknown {
            name: "Sync".into(),
            cmd_id: 19,
        },
    ]
}

#[test]
fn every_command_round_trips_alone_in_both_encodings() {
    for command in every_command() {
        let msg = Message {
            hdr: hdr(7, "IMEI:1", "https://dm.example.com/dm"),
            body: SyncBody {
                commands: vec![command],
                final_: false,
            },
        };
        round_trip_both(&msg);
    }
}

#[test]
fn all_commands_together_round_trip_and_pass_libwbxml() {
    let mut h = hdr(2, "https://dm.example.com/dm", "IMEI:493005100592800");
    h.session_id = "FF01".into();
    h.source_name = Some("dmuser".into());
    h.resp_uri = Some("https://dm.example.com/dm/2".into());
    h.cred = Some(Cred {
        format: None,
        auth_type: "syncml:auth-basic".into(),
        data: b"dmuser:secret".to_vec(),
    });
    h.max_msg_size = Some(16_000);
    h.max_obj_size = Some(4_000_000);
    let msg = Message {
        hdr: h,
        body: SyncBody {
            commands: every_command(),
            final_: true,
        },
    };
    round_trip_both(&msg);
    let xml = wbxml2xml(&msg.to_wbxml().expect("encode"));
    assert_contains_all(
        &xml,
        &[
            "<Sequence>",
            "<Atomic>",
            "<Copy>",
            "<Delete>",
            "<Add>",
            "<Results>",
            "<Sync>",
            "MaxObjSize",
            "<Size",
        ],
    );
}

#[test]
fn bin_format_is_opaque_in_wbxml_and_base64_in_xml() {
    let digest: Vec<u8> = (0u8..16).map(|i| i.wrapping_mul(37)).collect();
    let mut h = hdr(1, "https://dm.example.com/dm", "IMEI:1");
    h.cred = Some(Cred {
        format: Some("bin".into()),
        auth_type: "syncml:auth-md5".into(),
        data: digest.clone(),
    });
    let blob = Item {
        meta: Some(Meta {
            format: Some("bin".into()),
            ..Meta::default()
        }),
        data: Some(ItemData::Binary(vec![0x00, 0xC3, 0x28, 0x0A])),
        ..target_item("./Vendor/Blob")
    };
    let msg = Message {
        hdr: h,
        body: SyncBody {
            commands: vec![Command::Replace(ItemCmd {
                cmd_id: 1,
                correlator: None,
                meta: None,
                items: vec![blob],
            })],
            final_: true,
        },
    };
    let bytes = msg.to_wbxml().expect("encode");
    assert_eq!(Message::from_wbxml(&bytes), Ok(msg.clone()));
    let data = msg
        .to_document()
        .root
        .find("SyncHdr")
        .and_then(|h| h.find("Cred"))
        .and_then(|c| c.find("Data"))
        .cloned()
        .expect("Cred/Data");
    assert_eq!(
        data.children,
        vec![crate::wbxml::Node::Opaque(digest.clone())]
    );
    wbxml2xml(&bytes);

    // XML has no raw bytes: the same values come back with Format b64.
    let back = Message::from_xml(&msg.to_xml()).expect("decode XML");
    let cred = back.hdr.cred.as_ref().expect("cred");
    assert_eq!(cred.format.as_deref(), Some("b64"));
    assert_eq!(cred.data, digest);
    let Command::Replace(r) = &back.body.commands[0] else {
        panic!("Replace expected");
    };
    assert_eq!(
        r.items[0].data,
        Some(ItemData::Binary(vec![0x00, 0xC3, 0x28, 0x0A]))
    );
    assert_eq!(
        r.items[0].meta.as_ref().and_then(|m| m.format.as_deref()),
        Some("b64")
    );
}

// ------------------------------------------------------------ tolerance

#[test]
fn tolerates_prefixes_metinf_wrapper_cdata_and_unknown_commands() {
    let xml = r#"<?xml version="1.0"?>
<!DOCTYPE SyncML PUBLIC "-//SYNCML//DTD SyncML 1.2//EN" "http://www.openmobilealliance.org/tech/DTD/OMA-TS-SyncML_RepPro_DTD-V1_2.dtd">
<s:SyncML xmlns:s="SYNCML:SYNCML1.2" xmlns:m="syncml:metinf">
  <s:SyncHdr>
    <s:VerDTD> 1.2 </s:VerDTD><s:VerProto>DM/1.2</s:VerProto>
    <s:SessionID>
      7
    </s:SessionID>
    <s:MsgID> 3 </s:MsgID>
    <s:Target><s:LocURI>https://dm.example.com/dm</s:LocURI></s:Target>
    <s:Source><s:LocURI>IMEI:1</s:LocURI></s:Source>
    <s:Meta><m:MetInf><m:MaxMsgSize>8000</m:MaxMsgSize></m:MetInf></s:Meta>
  </s:SyncHdr>
  <s:SyncBody>
    <s:Sync><s:CmdID>1</s:CmdID><s:Target><s:LocURI>./contacts</s:LocURI></s:Target></s:Sync>
    <s:Map><s:CmdID>2</s:CmdID></s:Map>
    <s:Put><s:CmdID>3</s:CmdID></s:Put>
    <s:Results>
      <s:CmdID>4</s:CmdID><s:MsgRef>2</s:MsgRef><s:CmdRef>5</s:CmdRef>
      <s:Meta><m:Format>chr</m:Format></s:Meta>
      <s:Item><s:Source><s:LocURI>./DevDetail/FwV</s:LocURI></s:Source><s:Data><![CDATA[4.2<beta>]]></s:Data></s:Item>
    </s:Results>
  </s:SyncBody>
</s:SyncML>"#;
    let msg = Message::from_xml(xml).expect("decode");
    assert_eq!(msg.hdr.ver_dtd, "1.2");
    assert_eq!(msg.hdr.session_id, "7");
    assert_eq!(msg.hdr.msg_id, 3);
    assert_eq!(msg.hdr.max_msg_size, Some(8000));
    assert!(!msg.body.final_);
    assert_eq!(
        msg.body.commands[..3],
        [
            Command::Unknown {
                name: "Sync".into(),
                cmd_id: 1
            },
            Command::Unknown {
                name: "Map".into(),
                cmd_id: 2
            },
            Command::Unknown {
                name: "Put".into(),
                cmd_id: 3
            },
        ]
    );
    assert_eq!(msg.body.commands[0].name(), "Sync");
    let Command::Results(r) = &msg.body.commands[3] else {
        panic!("Results expected");
    };
    // The command-level Meta is handed down to the item.
    assert_eq!(
        r.items[0].meta.as_ref().and_then(|m| m.format.as_deref()),
        Some("chr")
    );
    assert_eq!(r.items[0].data, Some(ItemData::Text("4.2<beta>".into())));
    round_trip_both(&msg);
}

#[test]
fn embedded_xml_in_data_is_kept_as_text() {
    let xml = PACKAGE1.replace(
        "<Data>en-US</Data>",
        "<Data><DevInf xmlns=\"syncml:devinf\"><Man>X</Man></DevInf></Data>",
    );
    let msg = Message::from_xml(&xml).expect("decode");
    let Command::Replace(r) = &msg.body.commands[1] else {
        panic!("Replace expected");
    };
    assert_eq!(
        r.items[4].data,
        Some(ItemData::Text(
            "<DevInf xmlns=\"syncml:devinf\"><Man>X</Man></DevInf>".into()
        ))
    );
}

#[test]
fn opaque_text_from_wbxml_clients_is_text() {
    // Some clients send every value as OPAQUE; printable UTF-8 is text.
    let mut doc = package2().to_document();
    let body = doc
        .root
        .children
        .iter_mut()
        .find_map(|n| match n {
            crate::wbxml::Node::Element(e) if e.name == "SyncBody" => Some(e),
            _ => None,
        })
        .expect("SyncBody");
    body.children.push(crate::wbxml::Node::Element(
        Element::new("Results")
            .child(Element::with_text("CmdID", "9"))
            .child(Element::with_text("MsgRef", "1"))
            .child(Element::with_text("CmdRef", "4"))
            .child(
                Element::new("Item")
                    .child(
                        Element::new("Source")
                            .child(Element::with_text("LocURI", "./DevDetail/FwV")),
                    )
                    .child(Element::new("Data").opaque(b"4.2.1".to_vec())),
            ),
    ));
    let bytes = crate::wbxml::encode(&doc, &SYNCML_12).expect("encode");
    let msg = Message::from_wbxml(&bytes).expect("decode");
    let Some(Command::Results(r)) = msg.body.commands.last() else {
        panic!("Results expected");
    };
    assert_eq!(r.items[0].data, Some(ItemData::Text("4.2.1".into())));
}

#[test]
fn content_types() {
    assert_eq!(
        Encoding::from_content_type("application/vnd.syncml.dm+wbxml"),
        Some(Encoding::Wbxml)
    );
    assert_eq!(
        Encoding::from_content_type("Application/VND.SyncML.DM+XML; charset=UTF-8"),
        Some(Encoding::Xml)
    );
    assert_eq!(
        Encoding::from_content_type("application/vnd.syncml+xml"),
        None
    );
    assert_eq!(Encoding::from_content_type(""), None);
    for enc in [Encoding::Xml, Encoding::Wbxml] {
        assert_eq!(Encoding::from_content_type(enc.content_type()), Some(enc));
    }
}

// ------------------------------------------------------------ bad input

#[test]
fn truncated_wbxml_is_an_error_at_every_length() {
    let bytes = package2().to_wbxml().expect("encode");
    for len in 0..bytes.len() {
        let result = Message::from_wbxml(&bytes[..len]);
        assert!(result.is_err(), "prefix of {len} bytes decoded: {result:?}");
    }
    let err = Message::from_wbxml(&bytes[..bytes.len() / 2]).expect_err("truncated");
    assert!(matches!(err, SyncmlError::Wbxml(_)), "{err}");
    assert!(Message::decode(b"\x03garbage", Encoding::Wbxml).is_err());
}

#[test]
fn truncated_xml_is_an_error() {
    for cut in [0, 10, PACKAGE1.len() / 2, PACKAGE1.len() - 12] {
        let err = Message::from_xml(&PACKAGE1[..cut]).expect_err("truncated XML");
        assert!(matches!(err, SyncmlError::Xml(_)), "cut {cut}: {err}");
    }
}

#[test]
fn missing_msg_id_is_named() {
    let xml = PACKAGE1.replace("<MsgID>1</MsgID>", "");
    let err = Message::from_xml(&xml).expect_err("missing MsgID");
    assert_eq!(err, SyncmlError::Missing("SyncHdr/MsgID".into()));
    assert!(err.to_string().contains("SyncHdr/MsgID"), "{err}");

    let xml = PACKAGE1.replace("<SessionID>1</SessionID>", "");
    assert_eq!(
        Message::from_xml(&xml),
        Err(SyncmlError::Missing("SyncHdr/SessionID".into()))
    );
    let xml = PACKAGE1.replace("<CmdID>3</CmdID>", "");
    assert_eq!(
        Message::from_xml(&xml),
        Err(SyncmlError::Missing("SyncBody/Replace/CmdID".into()))
    );
}

#[test]
fn non_numeric_ids_are_errors() {
    let xml = PACKAGE1.replace("<MsgID>1</MsgID>", "<MsgID>-1</MsgID>");
    assert!(matches!(
        Message::from_xml(&xml),
        Err(SyncmlError::NotANumber { .. })
    ));
    let xml = PACKAGE1.replace("<Data>1201</Data>", "<Data>99999</Data>");
    assert!(matches!(
        Message::from_xml(&xml),
        Err(SyncmlError::NotANumber { .. })
    ));
}

#[test]
fn wrong_root_is_an_error() {
    let err = Message::from_xml("<DevInf xmlns=\"syncml:devinf\"><VerDTD>1.2</VerDTD></DevInf>")
        .expect_err("wrong root");
    assert_eq!(err, SyncmlError::WrongRoot("DevInf".into()));

    let doc = Document::new(&SYNCML_12, Element::new("SyncBody"));
    let bytes = crate::wbxml::encode(&doc, &SYNCML_12).expect("encode");
    assert_eq!(
        Message::from_wbxml(&bytes),
        Err(SyncmlError::WrongRoot("SyncBody".into()))
    );

    let devinf = Document::new(&DEVINF_12, Element::new("DevInf"));
    let bytes = crate::wbxml::encode(&devinf, &DEVINF_12).expect("encode");
    assert!(matches!(
        Message::from_wbxml(&bytes),
        Err(SyncmlError::WrongDocumentType(_))
    ));
}

#[test]
fn malformed_xml_is_an_error() {
    for bad in [
        "",
        "   ",
        "not xml at all",
        "<SyncML><SyncHdr></SyncML>",
        "<SyncML></SyncML><SyncML></SyncML>",
        "<SyncML>&bogus;</SyncML>",
        "<SyncML a=></SyncML>",
    ] {
        let result = Message::from_xml(bad);
        assert!(
            matches!(result, Err(SyncmlError::Xml(_))),
            "{bad:?} gave {result:?}"
        );
    }
    assert!(matches!(
        Message::decode(b"<SyncML>\xff</SyncML>", Encoding::Xml),
        Err(SyncmlError::Xml(_))
    ));
    // Well-formed but empty: the header is required.
    assert_eq!(
        Message::from_xml("<SyncML xmlns=\"SYNCML:SYNCML1.2\"/>"),
        Err(SyncmlError::Missing("SyncML/SyncHdr".into()))
    );
}

#[test]
fn bad_base64_credential_is_an_error() {
    let xml = PACKAGE1.replace(PACKAGE1_DIGEST_B64, "not*base64");
    assert_eq!(
        Message::from_xml(&xml),
        Err(SyncmlError::BadBase64("SyncHdr/Cred/Data".into()))
    );
}

#[test]
fn deep_nesting_is_rejected_without_overflow() {
    let depth = 10_000;
    let xml = format!(
        "<SyncML>{}{}</SyncML>",
        "<Atomic>".repeat(depth),
        "</Atomic>".repeat(depth)
    );
    assert!(matches!(Message::from_xml(&xml), Err(SyncmlError::Xml(_))));
}

#[test]
fn a_cmd_id_that_is_not_a_number_decodes_as_0_so_that_command_alone_is_refused() {
    for bad in ["one", "", " ", "-3", "99999999999"] {
        let xml = PACKAGE1.replace("<CmdID>1</CmdID>", &format!("<CmdID>{bad}</CmdID>"));
        let msg = Message::from_xml(&xml).expect("the message still decodes");
        assert_eq!(msg.body.commands[0].name(), "Alert");
        assert_eq!(msg.body.commands[0].cmd_id(), 0, "{bad:?}");
        // The other commands keep their ids.
        assert!(msg.body.commands[1..].iter().all(|c| c.cmd_id() > 0));
        let wbxml = msg.to_wbxml().expect("encode");
        assert_eq!(
            Message::from_wbxml(&wbxml).expect("decode").body.commands[0].cmd_id(),
            0
        );
    }
}

#[test]
fn versions_other_than_dm_1_2_are_named_by_their_status() {
    let msg = Message::from_xml(PACKAGE1).expect("decode");
    assert_eq!(msg.hdr.unsupported_version(), None);
    let with = |dtd: &str, proto: &str| {
        let xml = PACKAGE1
            .replace("<VerDTD>1.2</VerDTD>", &format!("<VerDTD>{dtd}</VerDTD>"))
            .replace(
                "<VerProto>DM/1.2</VerProto>",
                &format!("<VerProto>{proto}</VerProto>"),
            );
        Message::from_xml(&xml)
            .expect("decode")
            .hdr
            .unsupported_version()
    };
    assert_eq!(with("1.1", "DM/1.2"), Some(505));
    assert_eq!(with("1.1", "DM/1.1"), Some(505));
    assert_eq!(with("1.2", "DM/1.1"), Some(513));
    assert_eq!(with("1.2", "SyncML/1.1"), Some(513));
    assert_eq!(with("1.2", "SyncML/1.2"), Some(513));
}

#[test]
fn more_data_marks_a_chunk_in_both_encodings_and_libwbxml_reads_it() {
    let chunk = Item {
        source: Some("./Vendor/Log".into()),
        meta: Some(Meta {
            format: Some("chr".into()),
            size: Some(12),
            ..Meta::default()
        }),
        data: Some(ItemData::Text("first ".into())),
        more_data: true,
        ..Item::default()
    };
    let msg = Message {
        hdr: hdr(2, "https://dm.example.com/dm", "IMEI:1"),
        body: SyncBody {
            commands: vec![Command::Results(Results {
                cmd_id: 2,
                msg_ref: 1,
                cmd_ref: 3,
                items: vec![chunk],
            })],
            final_: false,
        },
    };
    round_trip_both(&msg);
    assert!(
        msg.to_xml().contains("</Data><MoreData/></Item>"),
        "{}",
        msg.to_xml()
    );
    let xml = wbxml2xml(&msg.to_wbxml().expect("encode"));
    assert!(xml.contains("<MoreData/>"), "{xml}");
    // The last chunk has none.
    let last = Message::from_xml(&msg.to_xml().replace("<MoreData/>", "")).expect("decode");
    let Command::Results(r) = &last.body.commands[0] else {
        panic!("Results expected");
    };
    assert!(!r.items[0].more_data);
}

// ------------------------------------- one Status for several Items

/// A client's answer to a server Get of five DevInfo/DevDetail nodes when
/// it lacks two: one Status 404 for the Get naming both missing Items by
/// repeated TargetRef, one Status 200 naming the three read, and one
/// Results with their values (SyncML RepPro 1.2, Status: `TargetRef*`
/// names the Items a Status for a command of several applies to). Written
/// as a device would, indented.
const MULTI_TARGETREF_STATUS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<SyncML xmlns="SYNCML:SYNCML1.2">
  <SyncHdr>
    <VerDTD>1.2</VerDTD>
    <VerProto>DM/1.2</VerProto>
    <SessionID>3F2</SessionID>
    <MsgID>2</MsgID>
    <Target><LocURI>https://dm.example.com/omadm</LocURI></Target>
    <Source><LocURI>MEID:A1000012345678</LocURI></Source>
  </SyncHdr>
  <SyncBody>
    <Status>
      <CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd>
      <TargetRef>MEID:A1000012345678</TargetRef>
      <SourceRef>https://dm.example.com/omadm</SourceRef>
      <Data>200</Data>
    </Status>
    <Status>
      <CmdID>2</CmdID><MsgRef>1</MsgRef><CmdRef>4</CmdRef><Cmd>Get</Cmd>
      <TargetRef>./DevInfo/DmV</TargetRef>
      <TargetRef>./DevInfo/Lang</TargetRef>
      <Data>404</Data>
    </Status>
    <Status>
      <CmdID>3</CmdID><MsgRef>1</MsgRef><CmdRef>4</CmdRef><Cmd>Get</Cmd>
      <TargetRef>./DevInfo/Man</TargetRef>
      <TargetRef>./DevInfo/Mod</TargetRef>
      <TargetRef>./DevDetail/FwV</TargetRef>
      <SourceRef>./A</SourceRef>
      <SourceRef>./B</SourceRef>
      <Data>200</Data>
    </Status>
    <Results>
      <CmdID>4</CmdID><MsgRef>1</MsgRef><CmdRef>4</CmdRef>
      <Item><Source><LocURI>./DevInfo/Man</LocURI></Source><Data>LG</Data></Item>
      <Item><Source><LocURI>./DevInfo/Mod</LocURI></Source><Data>VX9600</Data></Item>
      <Item><Source><LocURI>./DevDetail/FwV</LocURI></Source><Data>VX9600V05</Data></Item>
    </Results>
    <Final/>
  </SyncBody>
</SyncML>
"#;

fn get_statuses(msg: &Message) -> Vec<&Status> {
    msg.body
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::Status(s) if s.cmd == "Get" => Some(s),
            _ => None,
        })
        .collect()
}

#[test]
fn a_status_keeps_every_target_ref_and_source_ref_in_order() {
    let msg = Message::from_xml(MULTI_TARGETREF_STATUS).expect("decode");
    let Command::Status(hdr_status) = &msg.body.commands[0] else {
        panic!("SyncHdr status first");
    };
    // One of each: "the" TargetRef and SourceRef as before.
    assert_eq!(hdr_status.target_ref(), Some("MEID:A1000012345678"));
    assert_eq!(
        hdr_status.source_ref(),
        Some("https://dm.example.com/omadm")
    );
    let [missing, read] = get_statuses(&msg)[..] else {
        panic!("two Statuses for the Get");
    };
    assert_eq!(missing.data, 404);
    assert_eq!(missing.target_refs, ["./DevInfo/DmV", "./DevInfo/Lang"]);
    assert!(missing.source_refs.is_empty() && missing.source_ref().is_none());
    assert_eq!(missing.target_ref(), Some("./DevInfo/DmV"));
    assert_eq!(read.data, 200);
    assert_eq!(
        read.target_refs,
        ["./DevInfo/Man", "./DevInfo/Mod", "./DevDetail/FwV"]
    );
    assert_eq!(read.source_refs, ["./A", "./B"]);
    round_trip_both(&msg);
}

#[test]
fn a_multi_target_ref_status_is_written_whole_in_xml_and_in_dtd_order() {
    let msg = Message::from_xml(MULTI_TARGETREF_STATUS).expect("decode");
    let xml = msg.to_xml();
    assert_contains_all(
        &xml,
        &[
            "<Cmd>Get</Cmd><TargetRef>./DevInfo/DmV</TargetRef><TargetRef>./DevInfo/Lang</TargetRef><Data>404</Data>",
            "<Cmd>Get</Cmd><TargetRef>./DevInfo/Man</TargetRef><TargetRef>./DevInfo/Mod</TargetRef>\
             <TargetRef>./DevDetail/FwV</TargetRef><SourceRef>./A</SourceRef><SourceRef>./B</SourceRef><Data>200</Data>",
        ],
    );
    assert_eq!(xml.matches("<TargetRef>").count(), 6, "{xml}");
    assert_eq!(xml.matches("<SourceRef>").count(), 3, "{xml}");
    assert_eq!(Message::from_xml(&xml), Ok(msg));
}

#[test]
fn a_multi_target_ref_status_in_wbxml_is_read_by_libwbxml_and_decodes_back() {
    let msg = Message::from_xml(MULTI_TARGETREF_STATUS).expect("decode");
    let bytes = msg.to_wbxml().expect("encode");
    let xml = wbxml2xml(&bytes);
    // libwbxml may indent: compare without whitespace between elements.
    let compact: String = xml.split('\n').map(str::trim).collect::<Vec<_>>().concat();
    assert_contains_all(
        &compact,
        &[
            "<Cmd>Get</Cmd><TargetRef>./DevInfo/DmV</TargetRef><TargetRef>./DevInfo/Lang</TargetRef><Data>404</Data>",
            "<TargetRef>./DevInfo/Man</TargetRef><TargetRef>./DevInfo/Mod</TargetRef><TargetRef>./DevDetail/FwV</TargetRef><SourceRef>./A</SourceRef><SourceRef>./B</SourceRef><Data>200</Data>",
        ],
    );
    assert_eq!(compact.matches("<TargetRef>").count(), 6, "{xml}");
    // Our decoder reads libwbxml's XML, and our WBXML, to the same message.
    assert_eq!(Message::from_xml(&xml).as_ref(), Ok(&msg), "{xml}");
    assert_eq!(Message::from_wbxml(&bytes), Ok(msg.clone()));

    // Built in the model (as the handset simulator does) rather than read.
    let mut built = msg.clone();
    let Some(Command::Status(s)) = built.body.commands.get_mut(1) else {
        panic!("the 404");
    };
    s.target_refs.push("./DevDetail/SwV".into());
    let bytes = built.to_wbxml().expect("encode");
    let decoded = Message::from_wbxml(&bytes).expect("decode");
    assert_eq!(
        get_statuses(&decoded)[0].target_refs,
        ["./DevInfo/DmV", "./DevInfo/Lang", "./DevDetail/SwV"]
    );
    assert_eq!(
        wbxml2xml(&bytes).matches("<TargetRef>").count(),
        7,
        "libwbxml reads every TargetRef"
    );
}
