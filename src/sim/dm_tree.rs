//! The simulated handset's management tree: interior and leaf nodes with a
//! format and access rights, answering Get, Replace, Exec, Delete and Add
//! with the status codes an OMA-DM 1.2 client gives
//! (OMA-TS-DM_RepPro-V1_2 "Response status codes").
//!
//! It holds the standard objects (DevInfo, DevDetail), FUMO, LAWMO (OMA
//! Lock and Wipe MO 1.0) and an operator Customization subtree, so an
//! operator's commands meet the refusals a real device would give.

use std::collections::BTreeMap;

use base64::Engine;

use crate::omadm::engine::FUMO_NODE;

/// The SyncML status codes the tree answers with.
pub mod status {
    /// OK: the command completed.
    pub const OK: u16 = 200;
    /// Accepted for processing: the result comes later (a FUMO Generic Alert).
    pub const ACCEPTED: u16 = 202;
    /// Not found: no node at the target URI.
    pub const NOT_FOUND: u16 = 404;
    /// Command not allowed: the node's access rights forbid it.
    pub const NOT_ALLOWED: u16 = 405;
    /// Unsupported media type or format: the value does not fit the node.
    pub const BAD_FORMAT: u16 = 415;
    /// Already exists: Add of a node that is there.
    pub const ALREADY_EXISTS: u16 = 418;
}

/// LAWMO State values (OMA-TS-LAWMO-V1_0, node State).
pub mod lawmo {
    pub const FULLY_LOCKED: i64 = 10;
    pub const PARTIALLY_LOCKED: i64 = 20;
    pub const UNLOCKED: i64 = 30;
}

/// FUMO State "Idle / Start" (OMA-TS-DM-FUMO-V1_0, node State).
const FUMO_IDLE: i64 = 10;

const LAWMO_STATE: &str = "./LAWMO/State";
const LAWMO_OPS: &str = "./LAWMO/Operations";
const CUSTOMIZATION: &str = "./Customization";

/// A node's format (OMA-TS-DM_TND-V1_2 "Format").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Chr,
    Int,
    Bool,
    B64,
    /// A leaf that holds no value, only runs (LAWMO operations).
    Null,
    /// An interior node.
    Node,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Chr => "chr",
            Format::Int => "int",
            Format::Bool => "bool",
            Format::B64 => "b64",
            Format::Null => "null",
            Format::Node => "node",
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        match s.trim() {
            "chr" => Some(Format::Chr),
            "int" => Some(Format::Int),
            "bool" => Some(Format::Bool),
            "b64" => Some(Format::B64),
            "null" => Some(Format::Null),
            "node" => Some(Format::Node),
            _ => None,
        }
    }

    /// Whether a value written to a node of this format is well formed.
    fn accepts(self, value: &str) -> bool {
        match self {
            Format::Chr => true,
            Format::Int => value.trim().parse::<i64>().is_ok(),
            Format::Bool => matches!(value.trim(), "true" | "false"),
            Format::B64 => base64::engine::general_purpose::STANDARD
                .decode(value.trim())
                .is_ok(),
            Format::Null => value.is_empty(),
            Format::Node => false,
        }
    }
}

/// A node's access rights (the DDF AccessType), as a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access(u8);

impl Access {
    pub const GET: Access = Access(1);
    pub const REPLACE: Access = Access(2);
    pub const EXEC: Access = Access(4);
    pub const DELETE: Access = Access(8);
    /// On an interior node: new children may be added under it.
    pub const ADD: Access = Access(16);

    pub const fn and(self, other: Access) -> Access {
        Access(self.0 | other.0)
    }

    pub fn allows(self, right: Access) -> bool {
        self.0 & right.0 == right.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    format: Format,
    access: Access,
    value: String,
}

/// The management tree, keyed by normalised URI ("./DevInfo/Man", root ".").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmTree {
    nodes: BTreeMap<String, Node>,
}

/// The URI in the tree's own form: "./" in front, no trailing "/", the root
/// as "." — servers write all of these forms.
pub fn normalise(path: &str) -> String {
    let p = path.trim().trim_end_matches('/');
    let p = p.strip_prefix("./").unwrap_or(p);
    let p = p.trim_start_matches('/');
    if p.is_empty() || p == "." {
        ".".to_string()
    } else {
        format!("./{p}")
    }
}

fn parent(key: &str) -> Option<&str> {
    key.rsplit_once('/').map(|(p, _)| p)
}

fn customization_defaults() -> [(&'static str, Format, &'static str); 3] {
    [
        ("BrowserHome", Format::Chr, "http://wap.example.net/"),
        ("MmsProxy", Format::Chr, "10.0.0.200:80"),
        ("DataRoaming", Format::Bool, "false"),
    ]
}

impl DmTree {
    /// The tree of a handset with these identities, as it leaves the factory.
    pub fn for_handset(dev_id: &str, man: &str, model: &str, firmware: &str) -> DmTree {
        const G: Access = Access::GET;
        const GR: Access = Access::GET.and(Access::REPLACE);
        let mut t = DmTree {
            nodes: BTreeMap::new(),
        };
        t.interior(".", G);

        for (name, value) in [
            ("DevId", dev_id),
            ("Man", man),
            ("Mod", model),
            ("DmV", "1.2"),
            ("Lang", "en-US"),
        ] {
            t.leaf(&format!("./DevInfo/{name}"), Format::Chr, G, value);
        }

        for (name, value) in [
            ("DevTyp", "phone"),
            ("OEM", man),
            ("FwV", firmware),
            ("SwV", "1.0"),
            ("HwV", "rev-A"),
        ] {
            t.leaf(&format!("./DevDetail/{name}"), Format::Chr, G, value);
        }
        t.leaf("./DevDetail/LrgObj", Format::Bool, G, "false");
        for name in ["MaxDepth", "MaxTLen", "MaxSegLen"] {
            // 0: no limit (OMA-TS-DM_StdObj-V1_2, DevDetail/URI).
            t.leaf(&format!("./DevDetail/URI/{name}"), Format::Int, G, "0");
        }

        t.leaf(&format!("{FUMO_NODE}/PkgName"), Format::Chr, GR, "");
        t.leaf(&format!("{FUMO_NODE}/PkgVersion"), Format::Chr, GR, "");
        for op in ["DownloadAndUpdate", "Download"] {
            t.leaf(&format!("{FUMO_NODE}/{op}/PkgURL"), Format::Chr, GR, "");
        }
        for op in ["DownloadAndUpdate", "Download", "Update"] {
            t.interior(&format!("{FUMO_NODE}/{op}"), G.and(Access::EXEC));
        }
        t.leaf(
            &format!("{FUMO_NODE}/State"),
            Format::Int,
            G,
            &FUMO_IDLE.to_string(),
        );

        t.leaf(LAWMO_STATE, Format::Int, G, &lawmo::UNLOCKED.to_string());
        for op in [
            "FullyLock",
            "PartiallyLock",
            "UnLock",
            "FactoryReset",
            "Wipe",
        ] {
            t.leaf(&format!("{LAWMO_OPS}/{op}"), Format::Null, Access::EXEC, "");
        }
        for list in ["Contacts", "Media"] {
            let base = format!("./LAWMO/AvailableWipeList/{list}");
            t.leaf(&format!("{base}/ListItemName"), Format::Chr, G, list);
            t.leaf(&format!("{base}/ToBeWiped"), Format::Bool, GR, "true");
        }

        t.reset_customization();
        t
    }

    /// A leaf's value and format, or an interior node's child names joined
    /// by "/" with format "node" (OMA-TS-DM_TND-V1_2).
    pub fn get(&self, path: &str) -> Result<(String, Format), u16> {
        let key = normalise(path);
        let node = self.nodes.get(&key).ok_or(status::NOT_FOUND)?;
        if !node.access.allows(Access::GET) {
            return Err(status::NOT_ALLOWED);
        }
        if node.format == Format::Node {
            return Ok((self.children(&key).join("/"), Format::Node));
        }
        Ok((node.value.clone(), node.format))
    }

    /// Writes a leaf; `format` is the one the server declared, `None`
    /// meaning the node's own.
    pub fn replace(&mut self, path: &str, value: &str, format: Option<&str>) -> u16 {
        let Some(node) = self.nodes.get_mut(&normalise(path)) else {
            return status::NOT_FOUND;
        };
        if !node.access.allows(Access::REPLACE) {
            return status::NOT_ALLOWED;
        }
        let declared = match format {
            None => node.format,
            Some(f) => match Format::parse(f) {
                Some(f) => f,
                None => return status::BAD_FORMAT,
            },
        };
        if declared != node.format || !declared.accepts(value) {
            return status::BAD_FORMAT;
        }
        node.value = value.trim().to_string();
        status::OK
    }

    /// Runs an executable node: LAWMO operations complete at once; FUMO's
    /// are only accepted, their result arriving later as a Generic Alert.
    pub fn exec(&mut self, path: &str) -> u16 {
        let key = normalise(path);
        let Some(node) = self.nodes.get(&key) else {
            return status::NOT_FOUND;
        };
        if !node.access.allows(Access::EXEC) {
            return status::NOT_ALLOWED;
        }
        let Some(op) = key
            .strip_prefix(LAWMO_OPS)
            .and_then(|r| r.strip_prefix('/'))
        else {
            return status::ACCEPTED;
        };
        match op {
            "FullyLock" => self.set_lawmo_state(lawmo::FULLY_LOCKED),
            "PartiallyLock" => self.set_lawmo_state(lawmo::PARTIALLY_LOCKED),
            "UnLock" => self.set_lawmo_state(lawmo::UNLOCKED),
            "FactoryReset" => {
                self.reset_customization();
                self.set_lawmo_state(lawmo::UNLOCKED);
            }
            // Erasing takes a real handset a while: it accepts the
            // operation now and reports its end by a Generic Alert. (The
            // simulated handset keeps no user data to erase.)
            "Wipe" => return status::ACCEPTED,
            _ => {}
        }
        status::OK
    }

    /// Removes a node, with its subtree when it is interior.
    pub fn delete(&mut self, path: &str) -> u16 {
        let key = normalise(path);
        let Some(node) = self.nodes.get(&key) else {
            return status::NOT_FOUND;
        };
        if !node.access.allows(Access::DELETE) {
            return status::NOT_ALLOWED;
        }
        self.remove_subtree(&key);
        status::OK
    }

    /// Creates a leaf under an interior node that allows Add (only
    /// ./Customization); `format` defaults to chr as in SyncML.
    pub fn add(&mut self, path: &str, value: &str, format: Option<&str>) -> u16 {
        let key = normalise(path);
        if self.nodes.contains_key(&key) {
            return status::ALREADY_EXISTS;
        }
        let may_add = parent(&key)
            .and_then(|p| self.nodes.get(p))
            .is_some_and(|p| p.format == Format::Node && p.access.allows(Access::ADD));
        if !may_add {
            return status::NOT_ALLOWED;
        }
        let format = match format.map(Format::parse) {
            None => Format::Chr,
            Some(Some(f @ (Format::Chr | Format::Int | Format::Bool | Format::B64))) => f,
            Some(_) => return status::BAD_FORMAT,
        };
        if !format.accepts(value) {
            return status::BAD_FORMAT;
        }
        let access = Access::GET.and(Access::REPLACE).and(Access::DELETE);
        self.leaf(&key, format, access, value.trim());
        status::OK
    }

    /// Takes a node out, with its subtree, as on a handset whose client
    /// does not implement it (DevInfo without Lang, say): a Get of it then
    /// answers 404. Unlike Delete, the node's access rights do not matter.
    /// False when the tree had no such node.
    pub fn lack(&mut self, path: &str) -> bool {
        let key = normalise(path);
        if key == "." || !self.nodes.contains_key(&key) {
            return false;
        }
        self.remove_subtree(&key);
        true
    }

    fn children(&self, key: &str) -> Vec<&str> {
        let prefix = format!("{key}/");
        self.nodes
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix))
            .filter(|rest| !rest.contains('/'))
            .collect()
    }

    fn interior(&mut self, path: &str, access: Access) {
        let key = normalise(path);
        self.ancestors(&key);
        self.nodes.insert(
            key,
            Node {
                format: Format::Node,
                access,
                value: String::new(),
            },
        );
    }

    fn leaf(&mut self, path: &str, format: Format, access: Access, value: &str) {
        let key = normalise(path);
        self.ancestors(&key);
        self.nodes.insert(
            key,
            Node {
                format,
                access,
                value: value.to_string(),
            },
        );
    }

    /// Creates the missing interior nodes above `key`, readable only.
    fn ancestors(&mut self, key: &str) {
        let mut at = parent(key);
        while let Some(p) = at {
            self.nodes.entry(p.to_string()).or_insert(Node {
                format: Format::Node,
                access: Access::GET,
                value: String::new(),
            });
            at = parent(p);
        }
    }

    fn remove_subtree(&mut self, key: &str) {
        let prefix = format!("{key}/");
        self.nodes
            .retain(|k, _| k.as_str() != key && !k.starts_with(&prefix));
    }

    fn set_lawmo_state(&mut self, state: i64) {
        if let Some(n) = self.nodes.get_mut(LAWMO_STATE) {
            n.value = state.to_string();
        }
    }

    /// Puts ./Customization back as shipped: added leaves go, deleted and
    /// changed ones come back.
    fn reset_customization(&mut self) {
        self.remove_subtree(CUSTOMIZATION);
        self.interior(CUSTOMIZATION, Access::GET.and(Access::ADD));
        let access = Access::GET.and(Access::REPLACE).and(Access::DELETE);
        for (name, format, value) in customization_defaults() {
            self.leaf(&format!("{CUSTOMIZATION}/{name}"), format, access, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> DmTree {
        DmTree::for_handset("MEID:A1000012345678", "Acme", "X1", "1.0.0")
    }

    fn value(t: &DmTree, path: &str) -> String {
        t.get(path).map(|(v, _)| v).unwrap_or_default()
    }

    #[test]
    fn a_node_the_handset_lacks_is_not_found_nor_listed() {
        let mut t = tree();
        assert!(t.lack("DevInfo/Lang/"));
        assert!(!t.lack("./DevInfo/Lang"), "already gone");
        assert!(!t.lack("."), "the root stays");
        assert_eq!(t.get("./DevInfo/Lang"), Err(status::NOT_FOUND));
        assert_eq!(value(&t, "./DevInfo"), "DevId/DmV/Man/Mod");
        // Read-only nodes too: the client never had it.
        assert!(t.lack("./DevDetail/URI"));
        assert_eq!(t.get("./DevDetail/URI/MaxDepth"), Err(status::NOT_FOUND));
    }

    #[test]
    fn paths_are_normalised() {
        assert_eq!(normalise("./DevInfo/Man"), "./DevInfo/Man");
        assert_eq!(normalise("DevInfo/Man/"), "./DevInfo/Man");
        assert_eq!(normalise("./"), ".");
        assert_eq!(normalise(""), ".");
        let t = tree();
        assert_eq!(t.get("DevInfo/Man/"), Ok(("Acme".into(), Format::Chr)));
    }

    #[test]
    fn devinfo_and_devdetail_hold_the_handset_identity() {
        let t = tree();
        assert_eq!(value(&t, "./DevInfo/DevId"), "MEID:A1000012345678");
        assert_eq!(value(&t, "./DevInfo/Mod"), "X1");
        assert_eq!(value(&t, "./DevInfo/DmV"), "1.2");
        assert_eq!(value(&t, "./DevInfo/Lang"), "en-US");
        assert_eq!(value(&t, "./DevDetail/OEM"), "Acme");
        assert_eq!(value(&t, "./DevDetail/FwV"), "1.0.0");
        assert_eq!(
            t.get("./DevDetail/LrgObj"),
            Ok(("false".into(), Format::Bool))
        );
        assert_eq!(
            t.get("./DevDetail/URI/MaxDepth"),
            Ok(("0".into(), Format::Int))
        );
    }

    #[test]
    fn interior_nodes_list_their_children() {
        let t = tree();
        assert_eq!(
            t.get("./DevInfo"),
            Ok(("DevId/DmV/Lang/Man/Mod".into(), Format::Node))
        );
        assert_eq!(
            t.get("./DevDetail/URI"),
            Ok(("MaxDepth/MaxSegLen/MaxTLen".into(), Format::Node))
        );
        assert_eq!(
            t.get(".").map(|(v, _)| v),
            Ok("Customization/DevDetail/DevInfo/FUMO/LAWMO".into())
        );
    }

    #[test]
    fn get_of_a_missing_node_is_404() {
        assert_eq!(tree().get("./DevInfo/Nope"), Err(404));
    }

    #[test]
    fn get_of_an_exec_only_node_is_405() {
        assert_eq!(tree().get("./LAWMO/Operations/Wipe"), Err(405));
    }

    #[test]
    fn fumo_has_its_nodes() {
        let t = tree();
        assert_eq!(
            t.get(&format!("{FUMO_NODE}/State")),
            Ok(("10".into(), Format::Int))
        );
        assert_eq!(
            t.get(FUMO_NODE).map(|(v, _)| v),
            Ok("Download/DownloadAndUpdate/PkgName/PkgVersion/State/Update".into())
        );
    }

    #[test]
    fn replace_stores_a_value_where_allowed() {
        let mut t = tree();
        let url = format!("{FUMO_NODE}/DownloadAndUpdate/PkgURL");
        assert_eq!(t.replace(&url, "http://x/dd", Some("chr")), 200);
        assert_eq!(value(&t, &url), "http://x/dd");
        assert_eq!(t.replace("./Customization/DataRoaming", "true", None), 200);
        assert_eq!(value(&t, "./Customization/DataRoaming"), "true");
    }

    #[test]
    fn replace_without_the_right_is_405() {
        let mut t = tree();
        assert_eq!(t.replace("./DevInfo/Man", "Other", None), 405);
        assert_eq!(t.replace("./DevInfo", "x", None), 405);
        assert_eq!(t.replace(LAWMO_STATE, "10", Some("int")), 405);
        assert_eq!(value(&t, "./DevInfo/Man"), "Acme");
    }

    #[test]
    fn replace_of_a_missing_node_is_404() {
        assert_eq!(tree().replace("./Customization/Nope", "x", None), 404);
    }

    #[test]
    fn replace_with_a_value_that_does_not_fit_is_415() {
        let mut t = tree();
        assert_eq!(t.replace("./Customization/DataRoaming", "yes", None), 415);
        // The declared format must be the node's.
        assert_eq!(
            t.replace("./Customization/DataRoaming", "true", Some("chr")),
            415
        );
        assert_eq!(
            t.replace("./Customization/BrowserHome", "x", Some("xml")),
            415
        );
        assert_eq!(value(&t, "./Customization/DataRoaming"), "false");
    }

    #[test]
    fn int_and_b64_values_are_checked() {
        assert!(Format::Int.accepts("-12"));
        assert!(!Format::Int.accepts("twelve"));
        assert!(Format::B64.accepts("aGVsbG8="));
        assert!(!Format::B64.accepts("not base64!"));
        assert!(Format::Bool.accepts("true"));
        assert!(!Format::Bool.accepts("1"));
    }

    #[test]
    fn lawmo_starts_unlocked_and_follows_the_lock_operations() {
        let mut t = tree();
        assert_eq!(t.get(LAWMO_STATE), Ok(("30".into(), Format::Int)));
        assert_eq!(t.exec("./LAWMO/Operations/FullyLock"), 200);
        assert_eq!(value(&t, LAWMO_STATE), "10");
        assert_eq!(t.exec("LAWMO/Operations/PartiallyLock/"), 200);
        assert_eq!(value(&t, LAWMO_STATE), "20");
        assert_eq!(t.exec("./LAWMO/Operations/UnLock"), 200);
        assert_eq!(value(&t, LAWMO_STATE), "30");
    }

    #[test]
    fn factory_reset_restores_customization_and_unlocks() {
        let mut t = tree();
        assert_eq!(t.exec("./LAWMO/Operations/FullyLock"), 200);
        assert_eq!(
            t.replace("./Customization/BrowserHome", "http://o/", None),
            200
        );
        assert_eq!(t.delete("./Customization/MmsProxy"), 200);
        assert_eq!(t.add("./Customization/Apn", "internet", None), 200);
        assert_eq!(t.exec("./LAWMO/Operations/FactoryReset"), 200);
        assert_eq!(
            value(&t, "./Customization/BrowserHome"),
            "http://wap.example.net/"
        );
        assert_eq!(value(&t, "./Customization/MmsProxy"), "10.0.0.200:80");
        assert_eq!(t.get("./Customization/Apn"), Err(404));
        assert_eq!(value(&t, LAWMO_STATE), "30");
    }

    #[test]
    fn wipe_is_accepted_to_report_later() {
        let mut t = tree();
        assert_eq!(t.exec("./LAWMO/Operations/Wipe"), 202);
        assert_eq!(value(&t, LAWMO_STATE), "30");
    }

    #[test]
    fn fumo_exec_is_accepted_for_later_report() {
        // 202: the outcome is reported later by a Generic Alert.
        let mut t = tree();
        assert_eq!(t.exec(&format!("{FUMO_NODE}/DownloadAndUpdate")), 202);
        assert_eq!(t.exec(&format!("{FUMO_NODE}/Update")), 202);
    }

    #[test]
    fn exec_without_the_right_is_405_and_of_a_missing_node_404() {
        let mut t = tree();
        assert_eq!(t.exec("./DevInfo/Man"), 405);
        assert_eq!(t.exec("./LAWMO/State"), 405);
        assert_eq!(t.exec("./LAWMO/Operations/SelfDestruct"), 404);
    }

    #[test]
    fn delete_removes_customization_leaves_only() {
        let mut t = tree();
        assert_eq!(t.delete("./Customization/MmsProxy"), 200);
        assert_eq!(t.get("./Customization/MmsProxy"), Err(404));
        assert_eq!(t.delete("./Customization/MmsProxy"), 404);
        assert_eq!(t.delete("./Customization"), 405);
        assert_eq!(t.delete("./DevInfo/DevId"), 405);
        assert_eq!(t.delete(FUMO_NODE), 405);
    }

    #[test]
    fn add_creates_a_leaf_under_customization() {
        let mut t = tree();
        assert_eq!(t.add("./Customization/Apn", "internet", None), 200);
        assert_eq!(
            t.get("./Customization/Apn"),
            Ok(("internet".into(), Format::Chr))
        );
        assert_eq!(t.add("./Customization/Retries", "3", Some("int")), 200);
        assert_eq!(t.replace("./Customization/Retries", "4", None), 200);
        assert_eq!(t.delete("./Customization/Retries"), 200);
        assert_eq!(
            t.get("./Customization").map(|(v, _)| v),
            Ok("Apn/BrowserHome/DataRoaming/MmsProxy".into())
        );
    }

    #[test]
    fn add_of_an_existing_node_is_418() {
        let mut t = tree();
        assert_eq!(t.add("./Customization/BrowserHome", "x", None), 418);
        assert_eq!(t.add("./DevInfo/Man", "x", None), 418);
    }

    #[test]
    fn add_elsewhere_is_405() {
        let mut t = tree();
        assert_eq!(t.add("./DevInfo/Color", "red", None), 405);
        assert_eq!(t.add("./Nowhere/Leaf", "x", None), 405);
        assert_eq!(t.add("./Customization/Apn/Name", "x", None), 405);
        assert_eq!(t.add("./NewRoot", "x", None), 405);
    }

    #[test]
    fn add_with_a_value_that_does_not_fit_is_415() {
        let mut t = tree();
        assert_eq!(t.add("./Customization/Retries", "many", Some("int")), 415);
        assert_eq!(t.add("./Customization/Sub", "", Some("node")), 415);
        assert_eq!(t.get("./Customization/Retries"), Err(404));
    }
}
