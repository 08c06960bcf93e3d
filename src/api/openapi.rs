//! The OpenAPI 3.0 description of REST v1, served at `/api/v1/openapi.json`.
//! A test checks that every path here is routed and every route is here.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use serde_json::{json, Value};

use crate::fota::campaign::{CampaignState, MemberState, MAX_WAVE_SIZE};

fn id_param() -> Value {
    json!({"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "format": "int64"}})
}

fn q(name: &str, desc: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "schema": {"type": "string"}, "description": desc})
}

fn q_int(name: &str, desc: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "schema": {"type": "integer", "format": "int64"}, "description": desc})
}

fn body(schema: &str) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
}

fn ok(schema: &str, desc: &str) -> Value {
    json!({"description": desc, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
}

/// A list that can grow without bound, paged by keyset.
fn page_of(schema: &str) -> Value {
    json!({"description": "A page of results", "content": {"application/json": {"schema": {
        "type": "object",
        "required": ["items", "next_after"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": format!("#/components/schemas/{schema}")}},
            "next_after": {"type": "integer", "nullable": true, "description": "Pass as `after` for the next page; null on the last page."}
        }
    }}}})
}

/// A reference list small by nature, answered whole: it has no pages and
/// no `next_after`.
fn whole_list_of(schema: &str) -> Value {
    json!({"description": "The complete list (not paged)", "content": {"application/json": {"schema": {
        "type": "object",
        "required": ["items"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": format!("#/components/schemas/{schema}")}}
        }
    }}}})
}

/// `after` and `limit` of a list paged newest first.
fn newest_first(what: &str, default: i64, max: i64) -> Vec<Value> {
    vec![
        q_int(
            "after",
            &format!("Keyset paging: the previous page's `next_after`; {what} older than it"),
        ),
        q_int(
            "limit",
            &format!("Page size, 1-{max} (default {default}; a size outside is brought within)"),
        ),
    ]
}

fn errors() -> Value {
    let e = |d: &str| json!({"description": d, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    json!({
        "400": e("Malformed request"),
        "401": e("Missing, unknown, expired or revoked token"),
        "403": e("The token's role does not allow this"),
        "404": e("No such resource"),
        "409": e("Duplicate identifier, conflicting entry, or a change the resource's state does not allow"),
        "422": e("Invalid fields (`fields` says which and why), or a request that cannot be carried out (`message` says why)")
    })
}

fn op(
    summary: &str,
    tag: &str,
    params: Vec<Value>,
    request: Option<Value>,
    response: (&str, Value),
) -> Value {
    let mut responses = errors();
    responses[response.0] = response.1;
    let mut o =
        json!({"summary": summary, "tags": [tag], "parameters": params, "responses": responses});
    if let Some(r) = request {
        o["requestBody"] = r;
    }
    o
}

fn none() -> Value {
    json!({"description": "Done"})
}

/// Every state-changing operation takes an `Idempotency-Key` (one
/// middleware carries it for all of them), so it is added to each here
/// rather than written into every operation.
fn with_idempotency_keys(mut doc: Value) -> Value {
    let in_use = "A request with the same Idempotency-Key is still being carried out (`idempotency_key_in_use`, with Retry-After); otherwise a duplicate identifier, conflicting entry, or a change the resource's state does not allow";
    let reused = "The Idempotency-Key was used for another request (`idempotency_key_reused`), or its first request was carried out but its answer was lost (`idempotency_key_answer_lost`: nothing is done again; the message says when it committed and where to look); otherwise invalid fields (`fields` says which and why), or a request that cannot be carried out (`message` says why)";
    if let Some(paths) = doc["paths"].as_object_mut() {
        for ops in paths.values_mut().filter_map(Value::as_object_mut) {
            for (method, op) in ops.iter_mut() {
                if !["post", "put", "patch", "delete"].contains(&method.as_str()) {
                    continue;
                }
                if let Some(params) = op["parameters"].as_array_mut() {
                    params.push(json!({"$ref": "#/components/parameters/IdempotencyKey"}));
                }
                let responses = &mut op["responses"];
                responses["409"]["description"] = json!(in_use);
                responses["422"]["description"] = json!(reused);
            }
        }
    }
    if let Some(d) = doc["info"]["description"].as_str() {
        doc["info"]["description"] = json!(format!(
            "{d}\n\nEvery POST, PUT, PATCH and DELETE takes an `Idempotency-Key` header (the `IdempotencyKey` parameter): a client that lost an answer sends the same request with the same key and gets that answer again instead of a second campaign, order or DM job."
        ));
    }
    doc["components"]["parameters"] = json!({"IdempotencyKey": {
        "name": "Idempotency-Key",
        "in": "header",
        "required": false,
        "description": "Makes a retry safe (IETF draft \"The Idempotency-Key HTTP Header Field\"): the same key with the same request (method, path and query, body) answers with the first request's stored answer (status, body, Location) and `Idempotent-Replayed: true`, and carries nothing out again. Keys are the token's own and answer for 24 hours. The same key with another request is a 422 `idempotency_key_reused`; one still being carried out, a 409 `idempotency_key_in_use`; a 5xx answer is not kept (the retry runs again), a 4xx is. A request whose changes were committed but whose answer was never stored (its node died, or it failed after committing) is not carried out again: its retry is a 422 `idempotency_key_answer_lost`. 1 to 255 visible ASCII characters, bare or as a quoted string; anything else is a 400.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]{1,255}$"},
        "example": "5f0c2a8e-pos-order-1001"
    }});
    doc
}

pub fn document_value() -> Value {
    with_idempotency_keys(document_body())
}

fn document_body() -> Value {
    let campaign_states: Vec<&str> = CampaignState::ALL.iter().map(|s| s.as_str()).collect();
    let member_states: Vec<&str> = MemberState::ALL.iter().map(|s| s.as_str()).collect();
    let profile_filters = vec![
        q("mdn", "Exact MDN (10 digits)"),
        q("min", "Exact MIN (10 digits)"),
        q("imsi", "Exact IMSI (15 digits)"),
        q("account_id", "Exact billing account id"),
        q("name", "Subscriber name prefix"),
        q("state", "pending, activated or deactivated"),
        q_int("after", "Keyset paging: profiles with a greater id"),
        q_int("limit", "Page size, 1-500 (default 50)"),
    ];
    let device_filters = vec![
        q(
            "esn",
            "ESN, 8 hex or 11 decimal digits (also matches pseudo-ESNs)",
        ),
        q("meid", "MEID, 14 hex digits"),
        q("mdn", "Subscriber MDN"),
        q("min", "Subscriber MIN"),
        q("make", "Exact make"),
        q("model", "Exact model"),
        q("version", "Exact firmware version"),
        q(
            "state",
            "The handset's own activation state: pending, activated or deactivated",
        ),
        q_int("after", "Keyset paging: devices with a greater id"),
        q_int("limit", "Page size, 1-1000 (default 50)"),
    ];
    let campaign_devices = vec![
        id_param(),
        q(
            "state",
            &format!("Only devices in this state: {}", member_states.join(", ")),
        ),
        q_int("after", "Keyset paging: devices with a greater id"),
        q_int(
            "limit",
            "Page size, 1-1000 (default 100; a size outside is brought within)",
        ),
    ];
    let campaign_action = |summary: &str| {
        op(
            summary,
            "campaigns",
            vec![id_param()],
            None,
            ("200", ok("CampaignActed", "The campaign after the action")),
        )
    };
    let string = json!({"type": "string"});
    let nstring = json!({"type": "string", "nullable": true});
    let int = json!({"type": "integer"});
    let nint = json!({"type": "integer", "nullable": true});
    let boolean = json!({"type": "boolean"});
    let time = json!({"type": "integer", "format": "int64", "description": "UTC milliseconds since the epoch"});
    let ntime = json!({"type": "integer", "format": "int64", "nullable": true, "description": "UTC milliseconds since the epoch"});
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "MDM platform REST API",
            "version": "1.0.0",
            "description": "Registry access for billing, POS and customer-care systems. Authenticate with `Authorization: Bearer <token>` (the scheme's name in any case); admins create tokens with `mdm token create` or on the API tokens page. Errors are `{\"error\": {\"code\", \"message\", \"fields\"?}}`; a method a path does not take is a 405 `method_not_allowed` with an `Allow` header naming those it does.\n\nLists that grow without bound (profiles, devices, audit trails, ESN changes, IOTA sessions, firmware packages, campaigns and their devices, DM jobs) come in pages keyed on the id: `{\"items\", \"next_after\"}`, where `next_after` is the `after` to send for the next page and null on the last one; `limit` sets the page size. Profiles, devices and a campaign's devices go by ascending id, the others newest first. Small reference lists (capabilities, IOTA ESN series, PRLs) come whole, as `{\"items\"}` with no `next_after`."
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": {
            "/profiles": {
                "get": op("Search customer profiles", "profiles", profile_filters, None, ("200", page_of("Profile"))),
                "post": op("Create a customer profile (pending activation)", "profiles", vec![], Some(body("ProfileInput")), ("201", ok("Profile", "Created")))
            },
            "/profiles/{id}": {
                "get": op("Read a profile with its devices", "profiles", vec![id_param()], None, ("200", ok("Profile", "The profile"))),
                "put": op("Replace a profile's settings", "profiles", vec![id_param()], Some(body("ProfileInput")), ("200", ok("Profile", "Saved"))),
                "delete": op("Delete a profile (its devices are unlinked)", "profiles", vec![id_param()], None, ("204", none()))
            },
            "/profiles/{id}/activation": {
                "post": op("Change the activation state", "profiles", vec![id_param()], Some(body("StateChange")), ("200", ok("Profile", "Saved")))
            },
            "/profiles/{id}/audit": {
                "get": op("The profile's audit trail, newest first, by pages", "profiles", [vec![id_param()], newest_first("events", 100, 500)].concat(), None, ("200", page_of("AuditEvent")))
            },
            "/devices": {
                "get": op("Search devices", "devices", device_filters, None, ("200", page_of("DeviceRow"))),
                "post": op("Register a device", "devices", vec![], Some(body("DeviceInput")), ("201", ok("Device", "Created")))
            },
            "/devices/lookup/{key}": {
                "get": op("Find a device by ESN, MEID or MDN, with its profile and capability", "devices",
                    vec![json!({"name": "key", "in": "path", "required": true, "schema": {"type": "string"}})], None, ("200", ok("DeviceView", "The device")))
            },
            "/devices/{id}": {
                "get": op("Read a device with its profile and capability", "devices", vec![id_param()], None, ("200", ok("DeviceView", "The device"))),
                "put": op("Replace a device's registration", "devices", vec![id_param()], Some(body("DeviceInput")), ("200", ok("Device", "Saved"))),
                "delete": op("Delete a device", "devices", vec![id_param()], None, ("204", none()))
            },
            "/devices/{id}/dm-credentials": {
                "get": op("The device's OMA-DM account (never its secrets)", "devices", vec![id_param()], None, ("200", ok("DmAccount", "The account"))),
                "put": op("Set the device's OMA-DM credentials; its DevId is the user name. A server password left out is generated and returned in this answer only", "devices", vec![id_param()], Some(body("DmCredentialsInput")), ("200", ok("DmAccount", "Saved")))
            },
            "/devices/{id}/audit": {
                "get": op("The device's audit trail, newest first, by pages", "devices", [vec![id_param()], newest_first("events", 100, 500)].concat(), None, ("200", page_of("AuditEvent")))
            },
            "/capabilities": {
                "get": op("The whole device-capability registry by make and model (a reference list: not paged)", "capabilities", vec![], None, ("200", whole_list_of("Capability"))),
                "post": op("Add a capability entry", "capabilities", vec![], Some(body("CapabilityInput")), ("201", ok("Capability", "Created")))
            },
            "/capabilities/{id}": {
                "get": op("Read a capability entry", "capabilities", vec![id_param()], None, ("200", ok("Capability", "The entry"))),
                "put": op("Replace a capability entry", "capabilities", vec![id_param()], Some(body("CapabilityInput")), ("200", ok("Capability", "Saved"))),
                "delete": op("Delete a capability entry", "capabilities", vec![id_param()], None, ("204", none()))
            },
            "/iota-esn-series": {
                "get": op("All the manufacturers' IOTA ESN number series by make (a reference list: not paged)", "capabilities", vec![], None, ("200", whole_list_of("EsnSeries"))),
                "post": op("Add an IOTA ESN series", "capabilities", vec![], Some(body("EsnSeriesInput")), ("201", ok("EsnSeries", "Created")))
            },
            "/iota-esn-series/{id}": {
                "delete": op("Delete an IOTA ESN series", "capabilities", vec![id_param()], None, ("204", none()))
            },
            "/esn-changes": {
                "post": op("Move a subscriber to a new handset (ESN change); the new handset waits in Pending Activation until its first activation, which de-activates the old one", "esn-changes", vec![], Some(body("EsnChangeInput")), ("201", ok("EsnChange", "Recorded")))
            },
            "/esn-changes/{id}/cancel": {
                "post": op("Cancel an ESN change still waiting for activation: the subscriber stays on the old handset and the new one leaves the line (deleting the new handset cancels it too)", "esn-changes", vec![id_param()], None, ("200", ok("EsnChange", "Cancelled")))
            },
            "/profiles/{id}/esn-changes": {
                "get": op("The subscriber's ESN changes, newest first, by pages", "esn-changes", [vec![id_param()], newest_first("changes", 100, 500)].concat(), None, ("200", page_of("EsnChange")))
            },
            "/iota/activations": {
                "post": op("Star-code activation: check the handset, send the optional welcome text and a WAP Push SI with the call-back URL", "iota", vec![], Some(body("StarCodeInput")), ("202", ok("IotaSession", "Pushed")))
            },
            "/iota/prl-downloads": {
                "post": op("Automated PRL download (OTAPA): store the pending PRL id and push a WAP Push SL with the call-back URL", "iota", vec![], Some(body("PrlDownloadInput")), ("202", ok("IotaSession", "Pushed")))
            },
            "/iota/sessions": {
                "get": op("IOTA sessions, newest first, by pages", "iota",
                    [vec![q_int("device_id", "Only this device"), q_int("profile_id", "Only this subscriber"), q("flow", "one_button, star_code, otapa_prl or fota"), q("state", "awaiting_handset, running, completed, failed, refused or abandoned")], newest_first("sessions", 100, 500)].concat(),
                    None, ("200", page_of("IotaSession")))
            },
            "/prls": {
                "get": op("The SSPR tables: every filed PRL, by table (at most 256: a reference list, not paged)", "iota", vec![], None, ("200", whole_list_of("Prl")))
            },
            "/firmware/packages": {
                "get": op("Firmware packages, newest first, by pages (without their revision history: read one package for it)", "firmware", newest_first("packages", 100, 500), None, ("200", page_of("Package"))),
                "post": op("Upload a firmware package (the body is the file); it starts as a draft", "firmware",
                    vec![q("make", "Make (required)"), q("model", "Model (required)"), q("from_version", "Version the delta applies to; omit for a full image"),
                         q("to_version", "Target version (required)"), q("name", "Display name"), q("release_notes", "Release notes"),
                         q("mandatory", "true for a mandatory update"), q("sha256", "Expected SHA-256; the upload is refused if the body differs")],
                    Some(json!({"required": true, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}})),
                    ("201", ok("Package", "Stored")))
            },
            "/firmware/packages/{id}": {
                "get": op("Read a package with its revision history", "firmware", vec![id_param()], None, ("200", ok("Package", "The package")))
            },
            "/firmware/packages/{id}/state": {
                "post": op("Move a package along its lifecycle (draft, testing, released, withdrawn)", "firmware", vec![id_param()], Some(body("PackageStateChange")), ("200", ok("Package", "Moved")))
            },
            "/firmware/update": {
                "get": op("The released update for a make-model-version, if any", "firmware",
                    vec![q("make", "Make"), q("model", "Model"), q("version", "Current firmware version")], None, ("200", ok("UpdateAnswer", "Whether an update exists")))
            },
            "/campaigns": {
                "get": op("FOTA campaigns, newest first, by pages, each with its overall progress", "campaigns", newest_first("campaigns", 100, 200), None, ("200", page_of("CampaignSummary"))),
                "post": op("Plan a FOTA campaign for every device (not de-activated) at a make, model and version with a released update, in waves by device id; it starts as a draft. A field that breaks a rule (name, make, model, from_version, the wave sizes, failure_threshold, mdn_prefix, account_id, the schedule's fields) is a 422 `invalid` naming it in `fields`; no package or no device on the path is a 422 `unprocessable` whose `message` says why; a body that is not the schema's (a string for a number, an unknown field) is a 400", "campaigns", vec![], Some(body("CampaignPlan")), ("201", ok("CampaignPlanned", "Planned, with how many of its devices a notification cannot reach")))
            },
            "/campaigns/{id}": {
                "get": op("Read a campaign with its progress, overall and per wave", "campaigns", vec![id_param()], None, ("200", ok("CampaignView", "The campaign")))
            },
            "/campaigns/{id}/devices": {
                "get": op("A campaign's devices by device id, with what became of each", "campaigns", campaign_devices, None, ("200", page_of("CampaignDevice")))
            },
            "/campaigns/{id}/start": {
                "post": campaign_action("Start a draft campaign: its first wave is notified now (a 409 from any other state)")
            },
            "/campaigns/{id}/pause": {
                "post": campaign_action("Pause a running campaign: devices already notified finish their updates; no new wave starts")
            },
            "/campaigns/{id}/resume": {
                "post": campaign_action("Resume a paused campaign (also one the failure threshold held): the current wave is notified now")
            },
            "/campaigns/{id}/cancel": {
                "post": campaign_action("Cancel a draft, running or paused campaign: devices already notified finish their updates; the rest are not notified")
            },
            "/campaigns/{id}/schedule": {
                "put": op("Replace a draft, running or paused campaign's schedule (a field left out: any time, from now, a day to answer); the scheduler's next tick sends what it allows. A finished campaign is a 409; a window or time that is not one is a 422 naming the field", "campaigns", vec![id_param()], Some(body("CampaignSchedule")), ("200", ok("CampaignScheduled", "Rescheduled")))
            },
            "/campaigns/{id}/requeue": {
                "post": op("Queue a running, paused or completed campaign's skipped devices again, in waves of its wave size after its last (each judged by the failure threshold); a completed campaign runs again for them, a paused one waits for a resume. Send the `requeue_round` you read: a round already done queues nothing and answers `repeated: true` (a retry is safe); a round the campaign has not reached is a 422. None skipped is a 422; a draft or cancelled campaign is a 409. Devices whose reason still holds are skipped again", "campaigns", vec![id_param()], Some(body("CampaignRequeue")), ("200", ok("CampaignRequeued", "What was queued again")))
            },
            "/campaigns/{id}/renotify": {
                "post": campaign_action("Queue a running, paused or completed campaign's unanswered devices again as one more wave; a completed campaign runs again for it, a paused one waits for a resume. None unanswered is a 422")
            },
            "/devices/{id}/dm-jobs": {
                "get": op("A device's server-initiated OMA-DM jobs, newest first, by pages, with each command's outcome", "dm-jobs", [vec![id_param()], newest_first("jobs", 50, 500)].concat(), None, ("200", page_of("DmJob"))),
                "post": op("Queue a server-initiated OMA-DM session for a device and send its notification: management commands (Get, Replace, Add, Delete, Exec on any node), a LAWMO preset (lock, partial-lock, unlock, wipe, factory-reset; wipe and factory-reset need \"confirm\": true), or a refresh or network-initiated FOTA job. The device's answers fill `results` once it has called back. A command that is not one (its index and why in `message`), a device without a line or DM credentials, a handset whose capability entry says IOTA only (it cannot be woken over OMA-DM), or no update is a 422; an update already in progress is a 409", "dm-jobs", vec![id_param()], Some(body("DmJobInput")), ("202", ok("DmJob", "Queued; the notification is in the outbox")))
            },
            "/dm-jobs/{id}": {
                "get": op("One server-initiated OMA-DM job: its commands and what the device answered", "dm-jobs", vec![id_param()], None, ("200", ok("DmJob", "The job")))
            },
            "/openapi.json": {
                "get": {"summary": "This document", "security": [], "tags": ["meta"], "responses": {"200": {"description": "OpenAPI 3.0 document"}}}
            }
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
                    "code": string, "message": string,
                    "fields": {"type": "object", "additionalProperties": {"type": "string"}}
                }}}},
                "ProfileInput": {"type": "object", "additionalProperties": false, "required": ["mdn", "min", "account_id", "subscriber_name"], "properties": {
                    "mdn": {"type": "string", "pattern": "^[0-9]{10}$"},
                    "min": {"type": "string", "pattern": "^[0-9]{10}$"},
                    "imsi": {"type": "string", "pattern": "^[0-9]{15}$"},
                    "account_id": string, "subscriber_name": string,
                    "sid_nid_pairs": {"type": "string", "description": "SID/NID pairs, e.g. \"4145/65535,4146/0\""},
                    "accolc": {"type": "integer", "minimum": 0, "maximum": 15},
                    "scm": {"type": "integer", "minimum": 0, "maximum": 255},
                    "mob_p_rev": {"type": "integer", "minimum": 0, "maximum": 255},
                    "slot_cycle_index": {"type": "integer", "minimum": 0, "maximum": 7},
                    "local_control": boolean, "mob_term_home": boolean, "mob_term_for_sid": boolean, "mob_term_for_nid": boolean,
                    "prl_id": {"type": "integer", "minimum": 0, "maximum": 65535},
                    "sspr_table": {"type": "integer", "minimum": 0, "maximum": 255},
                    "pending_prl_id": {"type": "integer", "minimum": 0, "maximum": 65535},
                    "nai": {"type": "string", "description": "3GPD network access identifier, user@realm"},
                    "home_agent": {"type": "string", "description": "Mobile IP home agent address"},
                    "mn_ha_spi": {"type": "integer", "minimum": 0, "maximum": 4294967295u64},
                    "mn_aaa_spi": {"type": "integer", "minimum": 0, "maximum": 4294967295u64},
                    "puzl_id": {"type": "integer", "minimum": 0, "maximum": 65535},
                    "brew_url": {"type": "string", "format": "uri"},
                    "features": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
                    "new_esn": string, "activated_esn": string,
                    "pin": {"type": "string", "pattern": "^[0-9]{4,8}$", "writeOnly": true}
                }},
                "Profile": {"type": "object", "properties": {
                    "id": int, "mdn": string, "min": string, "imsi": nstring, "account_id": string, "subscriber_name": string,
                    "sid_nid_pairs": string, "accolc": int, "scm": int, "mob_p_rev": int, "slot_cycle_index": int,
                    "local_control": boolean, "mob_term_home": boolean, "mob_term_for_sid": boolean, "mob_term_for_nid": boolean,
                    "prl_id": nint, "sspr_table": nint, "pending_prl_id": nint, "nai": nstring, "home_agent": nstring,
                    "mn_ha_spi": nint, "mn_aaa_spi": nint, "puzl_id": nint, "brew_url": nstring, "features": string,
                    "activation_state": {"type": "string", "enum": ["pending", "activated", "deactivated"]},
                    "state_changed_at": time,
                    "new_esn": nstring, "activated_esn": nstring, "created_at": time, "updated_at": time,
                    "devices": {"type": "array", "items": {"$ref": "#/components/schemas/Device"}}
                }},
                "StateChange": {"type": "object", "required": ["state"], "properties": {"state": {"type": "string", "enum": ["pending", "activated", "deactivated"]}}},
                "DeviceInput": {"type": "object", "additionalProperties": false, "required": ["make", "model", "firmware_version"], "properties": {
                    "esn": {"type": "string", "description": "8 hex or 11 decimal digits"},
                    "meid": {"type": "string", "description": "14 hex digits (or 15 with the check digit, or 18 decimal)"},
                    "make": string, "model": string, "firmware_version": string,
                    "profile_mdn": {"type": "string", "description": "Link to the profile with this MDN"},
                    "profile_id": {"type": "integer", "description": "Link to this profile"}
                }},
                "Device": {"type": "object", "properties": {
                    "id": int, "esn": nstring, "meid": nstring, "pesn": nstring, "make": string, "model": string,
                    "firmware_version": string, "profile_id": nint, "last_contact_at": ntime, "last_protocol": nstring,
                    "created_at": time, "updated_at": time,
                    "activation_state": {"type": "string", "enum": ["pending", "activated", "deactivated"], "description": "the handset's own state (an ESN change de-activates the replaced handset on an activated line)"},
                    "deactivated_at": ntime, "retired_at": ntime
                }},
                "DmCredentialsInput": {"type": "object", "additionalProperties": false, "required": ["client_password"], "properties": {
                    "client_password": {"type": "string", "description": "8 to 128 printable characters"},
                    "server_password": {"type": "string", "description": "8 to 128 printable characters; generated when left out"},
                    "server_id": {"type": "string", "description": "default mdm"}
                }},
                "DmAccount": {"type": "object", "properties": {
                    "device_id": int, "server_id": string, "client_username": string, "updated_at": time,
                    "server_password": {"type": "string", "description": "only in the answer that generated it"}
                }},
                "DeviceRow": {"allOf": [{"$ref": "#/components/schemas/Device"}, {"type": "object", "properties": {
                    "mdn": nstring, "min": nstring, "subscriber_name": nstring,
                    "line_activation_state": {"type": "string", "nullable": true, "description": "the state of the device's line (profile), null when it has none"}
                }}]},
                "DeviceView": {"type": "object", "properties": {
                    "device": {"$ref": "#/components/schemas/Device"},
                    "profile": {"allOf": [{"$ref": "#/components/schemas/Profile"}], "nullable": true},
                    "capability": {"allOf": [{"$ref": "#/components/schemas/Capability"}], "nullable": true},
                    "iota_support": nstring
                }},
                "CapabilityInput": {"type": "object", "additionalProperties": false, "required": ["make", "model", "protocol"], "properties": {
                    "make": string, "model": string, "version_min": string, "version_max": string,
                    "protocol": {"type": "string", "enum": ["omadm", "iota", "both"]},
                    "fota": boolean, "brew": boolean, "features": {"type": "string", "description": "Comma-separated feature flags"}
                }},
                "Capability": {"type": "object", "properties": {
                    "id": int, "make": string, "model": string, "version_min": nstring, "version_max": nstring,
                    "protocol": string, "fota": boolean, "brew": boolean, "features": string, "created_at": time, "updated_at": time
                }},
                "EsnSeriesInput": {"type": "object", "required": ["make", "first_esn", "last_esn"], "properties": {
                    "make": string, "first_esn": string, "last_esn": string
                }},
                "EsnChangeInput": {"type": "object", "required": ["from", "to"], "properties": {
                    "from": {"type": "string", "description": "The current handset's ESN or MEID, or the subscriber's MDN"},
                    "to": {"type": "string", "description": "The new handset's ESN (8 hex or 11 decimal digits) or MEID"},
                    "variant": {"type": "string", "enum": ["copy", "field"], "description": "copy (default): the profile is copied to the new ESN; field: New ESN, moved to Activated ESN on activation"},
                    "make": string, "model": string, "firmware_version": string
                }},
                "EsnChange": {"type": "object", "properties": {
                    "id": int, "profile_id": int, "variant": string,
                    "old_device_id": {"type": "integer", "nullable": true, "description": "null once that handset was deleted"},
                    "new_device_id": {"type": "integer", "nullable": true, "description": "null once that handset was deleted"},
                    "old_esn": nstring, "new_esn": string, "state": {"type": "string", "enum": ["pending", "completed", "cancelled"]},
                    "requested_by": string, "created_at": time, "completed_at": ntime
                }},
                "StarCodeInput": {"type": "object", "required": ["device"], "properties": {"device": string}},
                "PrlDownloadInput": {"type": "object", "required": ["device", "prl_id"], "properties": {"device": string, "prl_id": int}},
                "IotaSession": {"type": "object", "properties": {
                    "id": int, "token": string, "flow": string, "state": string, "step": string, "device_id": nint, "profile_id": nint,
                    "esn": nstring, "meid": nstring, "prl_sspr_table": nint, "fota_session_id": nint,
                    "segment_offset": {"type": "integer", "description": "PRL download: the octet of the PRL the next SSPR segment starts at"},
                    "next_seq": {"type": "integer", "description": "The sequence number of the next OTASP request"},
                    "outstanding": {"type": "string", "description": "JSON: the OTASP requests sent and not yet answered"},
                    "detail": string,
                    "created_at": time, "updated_at": time, "finished_at": ntime
                }},
                "Prl": {"type": "object", "properties": {
                    "id": int, "sspr_table": int, "prl_id": int, "name": string, "size": int, "crc": int, "created_by": string, "created_at": time
                }},
                "EsnSeries": {"type": "object", "properties": {"id": int, "make": string, "first_esn": string, "last_esn": string, "size": int}},
                "Package": {"type": "object", "properties": {
                    "id": int, "name": string, "make": string, "model": string, "from_version": nstring, "to_version": string,
                    "size": int, "sha256": string, "release_notes": string, "mandatory": boolean,
                    "state": {"type": "string", "enum": ["draft", "testing", "released", "withdrawn"]},
                    "created_by": string, "created_at": time, "updated_at": time,
                    "revisions": {"type": "array", "items": {"$ref": "#/components/schemas/PackageRevision"}, "description": "Only when reading one package: its lifecycle and release-note changes, newest first"}
                }},
                "PackageRevision": {"type": "object", "properties": {
                    "id": int, "package_id": int, "at": time, "actor": string, "from_state": nstring, "to_state": string, "note": string
                }},
                "PackageStateChange": {"type": "object", "required": ["state"], "properties": {
                    "state": {"type": "string", "enum": ["draft", "testing", "released", "withdrawn"]}, "note": string
                }},
                "UpdateAnswer": {"type": "object", "properties": {"update": boolean, "package": {"allOf": [{"$ref": "#/components/schemas/Package"}], "nullable": true}}},
                "CampaignPlan": {"type": "object", "additionalProperties": false, "required": ["name", "make", "model", "from_version", "wave_size", "failure_threshold"], "properties": {
                    "name": {"type": "string", "maxLength": 100},
                    "make": string, "model": string,
                    "from_version": {"type": "string", "description": "The firmware version the devices to update are at"},
                    "first_wave_size": {"type": "integer", "minimum": 1, "maximum": MAX_WAVE_SIZE, "description": "Wave 1's size when it should differ; the wave size when left out. A size that differs from wave_size makes wave 1 a canary of that size (as before canary existed)"},
                    "canary": {"type": "integer", "minimum": 1, "maximum": MAX_WAVE_SIZE, "description": "A canary of this many devices: wave 1, which must prove the package before wave 2 goes out (a canary over the failure threshold, or whose devices were all skipped, holds the campaign; its skipped devices re-queued before wave 2 rejoin it and go out first), even when as large as the other waves. With first_wave_size too, both must be equal (422, canary). No canary when left out, unless first_wave_size differs from wave_size"},
                    "wave_size": {"type": "integer", "minimum": 1, "maximum": MAX_WAVE_SIZE, "description": "Devices notified per wave"},
                    "failure_threshold": {"type": "integer", "minimum": 0, "maximum": 100, "description": "Percent of a wave's finished updates that may fail before the campaign holds the next wave"},
                    "answer_within_mins": {"type": "integer", "minimum": 5, "maximum": 1440, "description": "Minutes a notified handset has to call back before it counts as unanswered (not a failed update); 1440 when left out"},
                    "window": {"type": "string", "example": "01:00-05:00", "description": "Notify only between these times each day (wrapping past midnight when the start is later), on the window_zone clock; any time when left out"},
                    "window_zone": {"type": "string", "example": "America/Chicago", "description": "The IANA time zone the window is kept in, daylight saving included; UTC when left out. Only with a window: a zone without one is refused (422, window_zone)"},
                    "not_before": {"type": "string", "example": "2026-12-01T02:00:00Z", "description": "Notify nobody before this time: 2026-12-01 02:00 in UTC, or with an offset from UTC (2026-12-01T02:00+01:00, seconds optional), kept in UTC"},
                    "mdn_prefix": {"type": "string", "pattern": "^[0-9]{1,10}$", "example": "312", "description": "Only lines whose MDN starts with these digits (an area code or exchange: a market)"},
                    "account_id": {"type": "string", "maxLength": 64, "description": "Only lines of this billing account (a fleet)"}
                }},
                "CampaignSchedule": {"type": "object", "additionalProperties": false, "properties": {
                    "answer_within_mins": {"type": "integer", "minimum": 5, "maximum": 1440, "description": "Minutes a notified handset has to call back; 1440 when left out. Applies to devices already notified"},
                    "window": {"type": "string", "example": "01:00-05:00", "description": "Daily notification window; any time when left out"},
                    "window_zone": {"type": "string", "example": "America/Chicago", "description": "The IANA time zone the window is kept in; UTC when left out. Only with a window (422 otherwise)"},
                    "not_before": {"type": "string", "example": "2026-12-01T02:00:00Z", "description": "No notification before this time: 2026-12-01 02:00 in UTC, or with an offset from UTC (2026-12-01T02:00+01:00); from now when left out"}
                }},
                "DmCommand": {"type": "object", "additionalProperties": false, "required": ["command", "path"], "properties": {
                    "command": {"type": "string", "enum": ["get", "replace", "add", "delete", "exec"]},
                    "path": {"type": "string", "description": "Management-tree URI, e.g. ./DevDetail/SwV"},
                    "value": {"type": "string", "description": "Replace and add: the value; exec: optional data"},
                    "format": {"type": "string", "enum": ["chr", "int", "bool"], "description": "Replace and add: the value's format (default chr)"}
                }},
                "DmJobInput": {"type": "object", "additionalProperties": false, "description": "Exactly one of commands, preset or job", "properties": {
                    "commands": {"type": "array", "maxItems": crate::omadm::command::MAX_COMMANDS, "items": {"$ref": "#/components/schemas/DmCommand"}},
                    "preset": {"type": "string", "enum": crate::omadm::command::Preset::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>()},
                    "confirm": {"type": "boolean", "description": "Required true for wipe and factory-reset"},
                    "job": {"type": "string", "enum": ["refresh", "fota"]}
                }},
                "DmCommandResult": {"type": "object", "properties": {
                    "command": string, "path": string,
                    "status": {"type": "integer", "nullable": true, "description": "The device's OMA-DM status code (200 OK, 202 accepted, 404 not found, 405 not allowed, ...); null until it answered"},
                    "value": {"type": "string", "description": "What a get read (an interior node: its children, \"/\"-separated)"},
                    "format": string,
                    "cmd_id": {"type": "integer", "description": "The CmdID the command went out with"},
                    "correlator": {"type": "string", "description": "Exec only: the correlator its later result (Generic Alert) names"},
                    "reported": {"type": "string", "description": "An accepted exec's later result (Generic Alert code and type)"}
                }},
                "DmJob": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "device_id": {"type": "integer"},
                    "kind": {"type": "string", "enum": ["refresh", "fota", "commands"]},
                    "session_id": {"type": "string", "description": "The SessionID (hex) the notification told the device to call back with"},
                    "state": {"type": "string", "enum": ["notified", "running", "done", "failed", "expired"]},
                    "detail": string,
                    "commands": {"type": "array", "items": string},
                    "results": {"type": "array", "items": {"$ref": "#/components/schemas/DmCommandResult"}},
                    "outbox_id": {"type": "integer", "nullable": true}, "fota_session_id": {"type": "integer", "nullable": true},
                    "created_by": string, "created_at": {"type": "integer"}, "updated_at": {"type": "integer"}
                }},
                "CampaignRequeue": {"type": "object", "additionalProperties": false, "required": ["round"], "properties": {
                    "round": {"type": "integer", "minimum": 0, "description": "The campaign's requeue_round as read"}
                }},
                "CampaignRequeued": {"allOf": [{"$ref": "#/components/schemas/Campaign"}, {"type": "object", "properties": {
                    "requeued": {"type": "integer", "description": "Devices queued again by this request; 0 when it repeated a round already done"},
                    "first_wave": {"type": "integer", "nullable": true, "description": "The first wave they went into"},
                    "last_wave": {"type": "integer", "nullable": true, "description": "The last wave they went into"},
                    "repeated": {"type": "boolean", "description": "The round was already done (a double click, a retry): nothing was queued again"},
                    "notified": {"type": "integer", "description": "Devices of the first new wave notified now (a running campaign at it)"},
                    "skipped": {"type": "integer", "description": "Devices skipped again now: their reason still holds; the device list says which"}
                }}]},
                "CampaignScheduled": {"allOf": [{"$ref": "#/components/schemas/Campaign"}, {"type": "object", "properties": {
                    "waiting": {"type": "string", "description": "Only while the new schedule holds a running campaign: what it waits for and until when"}
                }}]},
                "Campaign": {"type": "object", "properties": {
                    "id": int, "name": string, "make": string, "model": string, "from_version": string,
                    "package_id": int, "to_version": string, "first_wave_size": int, "wave_size": int, "failure_threshold": int,
                    "state": {"type": "string", "enum": campaign_states},
                    "wave": {"type": "integer", "description": "The wave being notified or awaited; 0 before the start"},
                    "waves": int, "devices": int,
                    "detail": {"type": "string", "description": "Why it is paused or how it ended"},
                    "created_by": string, "created_at": time, "updated_at": time, "started_at": ntime, "finished_at": ntime,
                    "answer_within_mins": {"type": "integer", "description": "Minutes a notified handset has to call back"},
                    "window_from": {"type": "integer", "nullable": true, "description": "The daily notification window's start, minutes of the day on the window_zone clock"},
                    "window_to": {"type": "integer", "nullable": true, "description": "The window's end (excluded), minutes of the day"},
                    "window_zone": {"type": "string", "nullable": true, "description": "The IANA time zone the window is kept in; null for UTC"},
                    "not_before": ntime,
                    "mdn_prefix": {"type": "string", "nullable": true, "description": "Only lines whose MDN starts with these digits"},
                    "account_id": {"type": "string", "nullable": true, "description": "Only lines of this billing account"},
                    "requeue_round": {"type": "integer", "description": "How many times its skipped devices were queued again; a re-queue names the round it read"},
                    "canary": {"type": "integer", "nullable": true, "description": "The canary's size (wave 1, which proves the package before wave 2) when the campaign has one; null when every wave is alike"}
                }},
                "CampaignTally": {"type": "object", "description": "How many devices are in each state", "properties": {
                    "queued": int, "notified": int, "succeeded": int, "failed": int, "declined": int, "unanswered": int, "skipped": int, "cancelled": int
                }},
                "CampaignProgress": {"type": "object", "properties": {
                    "overall": {"$ref": "#/components/schemas/CampaignTally"},
                    "waves": {"type": "array", "items": {"$ref": "#/components/schemas/CampaignTally"}, "description": "Per wave, the first is wave 1; only when reading one campaign"}
                }},
                "CampaignSummary": {"allOf": [{"$ref": "#/components/schemas/Campaign"}, {"type": "object", "properties": {
                    "waiting": {"type": "string", "description": "Only while a running campaign notifies nobody: before its start or outside its window, and when it will"},
                    "outcome": {"type": "string", "enum": ["updated", "nothing_updated"], "description": "Only once completed: `nothing_updated` when not one device was updated (all skipped, say)"},
                    "progress": {"$ref": "#/components/schemas/CampaignProgress"}
                }}]},
                "CampaignReach": {"type": "object", "description": "Of the devices still to notify, how many a notification cannot reach (no OMA-DM credentials, no line): they will be skipped", "properties": {
                    "queued": int, "no_credentials": int, "no_line": int, "unreachable": int,
                    "mostly_unreachable": {"type": "boolean", "description": "All or most of them would be skipped"},
                    "warning": {"type": "string", "description": "Only when some cannot be reached: how many, why, and what to do"}
                }},
                "CampaignPlanned": {"allOf": [{"$ref": "#/components/schemas/Campaign"}, {"type": "object", "properties": {
                    "reach": {"$ref": "#/components/schemas/CampaignReach"}
                }}]},
                "CampaignView": {"allOf": [{"$ref": "#/components/schemas/Campaign"}, {"type": "object", "properties": {
                    "waiting": {"type": "string", "description": "Only while a running campaign notifies nobody: before its start or outside its window, and when it will"},
                    "outcome": {"type": "string", "enum": ["updated", "nothing_updated"], "description": "Only once completed: `nothing_updated` when not one device was updated (all skipped, say)"},
                    "reach": {"$ref": "#/components/schemas/CampaignReach"},
                    "progress": {"$ref": "#/components/schemas/CampaignProgress"}
                }}]},
                "CampaignActed": {"allOf": [{"$ref": "#/components/schemas/Campaign"}, {"type": "object", "properties": {
                    "notified": {"type": "integer", "description": "Start, resume and re-notify only: devices notified now"},
                    "skipped": {"type": "integer", "description": "Start, resume and re-notify only: devices that could not be notified (no line, no DM credentials, another update open); the device list says why"}
                }}]},
                "CampaignDevice": {"type": "object", "properties": {
                    "campaign_id": int, "device_id": int,
                    "label": {"type": "string", "description": "The MEID, else the ESN"},
                    "meid": nstring, "esn": nstring,
                    "mdn": {"type": "string", "nullable": true, "description": "The line's MDN; null for a device without a line"},
                    "wave": int, "state": {"type": "string", "enum": member_states},
                    "fota_session_id": nint, "detail": string, "updated_at": time
                }},
                "AuditEvent": {"type": "object", "properties": {
                    "id": int, "at": time, "actor": string, "entity_kind": string, "entity_id": int, "action": string,
                    "detail": {"type": "string", "description": "JSON: changed fields as {field: {from, to}}, or a snapshot"}
                }}
            }
        }
    })
}

/// The methods (upper-case) the API takes on a concrete path under
/// `/api/v1`, from this document; none for a path it does not have.
pub fn methods_of(path: &str) -> Vec<String> {
    type Route = (Vec<String>, Vec<String>);
    static ROUTES: OnceLock<Vec<Route>> = OnceLock::new();
    let routes = ROUTES.get_or_init(|| {
        let doc = document_value();
        doc["paths"]
            .as_object()
            .map(|paths| {
                paths
                    .iter()
                    .map(|(template, ops)| {
                        let segments = template.split('/').map(str::to_string).collect();
                        let methods = ops
                            .as_object()
                            .map(|o| o.keys().map(|m| m.to_uppercase()).collect())
                            .unwrap_or_default();
                        (segments, methods)
                    })
                    .collect()
            })
            .unwrap_or_default()
    });
    let asked: Vec<&str> = path.split('/').collect();
    let mut allowed: Vec<String> = Vec::new();
    for (template, methods) in routes {
        let fits = template.len() == asked.len()
            && template.iter().zip(&asked).all(|(t, a)| {
                if t.starts_with('{') {
                    !a.is_empty()
                } else {
                    t == a
                }
            });
        if fits {
            for m in methods {
                if !allowed.contains(m) {
                    allowed.push(m.clone());
                }
            }
        }
    }
    // The document's methods come in name order; Allow lists them as
    // RFC 9110 does, reads first.
    const ORDER: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];
    allowed.sort_by_key(|m| ORDER.iter().position(|o| o == m).unwrap_or(ORDER.len()));
    allowed
}

pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(document_value())
}
