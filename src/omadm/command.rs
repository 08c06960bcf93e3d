//! Management commands an operator sends a device in a server-initiated
//! OMA-DM session: read a node, set or add one, delete one, or run one
//! (OMA-TS-DM_Protocol-V1_2 section 6.6: Get, Replace, Add, Delete, Exec),
//! with the OMA LAWMO 1.0 lock and wipe operations as presets. Pure: it
//! checks what an operator typed and says what the device answered.

use serde::{Deserialize, Serialize};

/// The most commands one job carries: a session is a conversation with a
/// handset over a slow bearer, not a bulk transfer.
pub const MAX_COMMANDS: usize = 20;
/// OMA-DM TND 1.2 lets a device limit URIs far below this (DevDetail/URI/
/// MaxTLen); longer ones are certainly typing mistakes.
const MAX_PATH: usize = 255;
const MAX_VALUE: usize = 1024;
/// The LAWMO 1.0 management object, where handsets commonly place it.
pub const LAWMO_NODE: &str = "./LAWMO";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("{0}")]
    Invalid(String),
    #[error("line {line}: {why}")]
    Line { line: usize, why: String },
}

/// A management-tree URI (OMA-DM TND 1.2 section 6: segments separated by
/// "/", rooted at "."), kept in its "./A/B" form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NodePath(String);

impl NodePath {
    pub fn parse(raw: &str) -> Result<NodePath, CommandError> {
        let t = raw.trim();
        let bad = |why: &str| CommandError::Invalid(format!("node {t:?}: {why}"));
        if t.is_empty() {
            return Err(CommandError::Invalid(
                "a node path is required, e.g. ./DevDetail/SwV".into(),
            ));
        }
        let rel = t.strip_prefix("./").unwrap_or(t).trim_end_matches('/');
        if rel.is_empty() || rel == "." {
            return Err(bad("name a node below the root, e.g. ./DevDetail/SwV"));
        }
        if rel.len() + 2 > MAX_PATH {
            return Err(bad(&format!("longer than {MAX_PATH} characters")));
        }
        for segment in rel.split('/') {
            if segment.is_empty() {
                return Err(bad("empty segment (\"//\")"));
            }
            if segment == "." || segment == ".." {
                return Err(bad("\".\" and \"..\" are not node names"));
            }
            if segment
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#')
            {
                return Err(bad("node names hold no spaces, \"?\" or \"#\""));
            }
        }
        Ok(NodePath(format!("./{rel}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for NodePath {
    type Error = CommandError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        NodePath::parse(&s)
    }
}

impl From<NodePath> for String {
    fn from(p: NodePath) -> String {
        p.0
    }
}

impl std::fmt::Display for NodePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The formats an operator writes a leaf in (TND 1.2 section 7.7.7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NodeFormat {
    #[default]
    Chr,
    Int,
    Bool,
}

impl NodeFormat {
    pub fn parse(s: &str) -> Result<NodeFormat, CommandError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "chr" => Ok(NodeFormat::Chr),
            "int" => Ok(NodeFormat::Int),
            "bool" => Ok(NodeFormat::Bool),
            other => Err(CommandError::Invalid(format!(
                "format {other:?}: use chr, int or bool"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NodeFormat::Chr => "chr",
            NodeFormat::Int => "int",
            NodeFormat::Bool => "bool",
        }
    }

    fn check(self, value: &str) -> Result<(), String> {
        match self {
            NodeFormat::Chr => Ok(()),
            // TND int is 32 bits; accept both signed and unsigned readings.
            NodeFormat::Int => value
                .parse::<i64>()
                .ok()
                .filter(|v| (i64::from(i32::MIN)..=i64::from(u32::MAX)).contains(v))
                .map(|_| ())
                .ok_or_else(|| format!("{value:?} is not a 32-bit integer")),
            NodeFormat::Bool => match value {
                "true" | "false" => Ok(()),
                _ => Err(format!("{value:?} is not true or false")),
            },
        }
    }
}

/// One command of a job, as stored with it and sent to the device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "lowercase")]
pub enum DmCommand {
    Get {
        path: NodePath,
    },
    Replace {
        path: NodePath,
        value: String,
        #[serde(default)]
        format: NodeFormat,
    },
    Add {
        path: NodePath,
        value: String,
        #[serde(default)]
        format: NodeFormat,
    },
    Delete {
        path: NodePath,
    },
    Exec {
        path: NodePath,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data: Option<String>,
        /// Echoed by the device in the Generic Alert that reports the
        /// result of an operation it accepted (202) to finish later.
        #[serde(default)]
        correlator: String,
    },
}

impl DmCommand {
    /// A command from its parts, as the API and the form send them.
    pub fn new(
        verb: &str,
        path: &str,
        value: Option<&str>,
        format: Option<&str>,
    ) -> Result<DmCommand, CommandError> {
        let path = NodePath::parse(path)?;
        let format = NodeFormat::parse(format.unwrap_or(""))?;
        let value_of = |verb: &str| -> Result<String, CommandError> {
            let v = value
                .ok_or_else(|| CommandError::Invalid(format!("{verb} {path} needs a value")))?;
            if v.len() > MAX_VALUE {
                return Err(CommandError::Invalid(format!(
                    "the value for {path} is longer than {MAX_VALUE} characters"
                )));
            }
            format
                .check(v)
                .map_err(|why| CommandError::Invalid(format!("{verb} {path}: {why}")))?;
            Ok(v.to_string())
        };
        let no_value = |verb: &str| match value {
            Some(v) if !v.is_empty() => Err(CommandError::Invalid(format!(
                "{verb} takes no value (got {v:?} for {path})"
            ))),
            _ => Ok(()),
        };
        match verb.trim().to_ascii_lowercase().as_str() {
            "get" => {
                no_value("get")?;
                Ok(DmCommand::Get { path })
            }
            "replace" => Ok(DmCommand::Replace {
                value: value_of("replace")?,
                path,
                format,
            }),
            "add" => Ok(DmCommand::Add {
                value: value_of("add")?,
                path,
                format,
            }),
            "delete" => {
                no_value("delete")?;
                Ok(DmCommand::Delete { path })
            }
            "exec" => {
                let data = value.filter(|v| !v.is_empty());
                if data.is_some_and(|d| d.len() > MAX_VALUE) {
                    return Err(CommandError::Invalid(format!(
                        "the data for {path} is longer than {MAX_VALUE} characters"
                    )));
                }
                Ok(DmCommand::Exec {
                    path,
                    data: data.map(str::to_string),
                    correlator: new_correlator(),
                })
            }
            other => Err(CommandError::Invalid(format!(
                "{other:?} is not a command: use get, replace, add, delete or exec"
            ))),
        }
    }

    /// The SyncML element name.
    pub fn verb(&self) -> &'static str {
        match self {
            DmCommand::Get { .. } => "Get",
            DmCommand::Replace { .. } => "Replace",
            DmCommand::Add { .. } => "Add",
            DmCommand::Delete { .. } => "Delete",
            DmCommand::Exec { .. } => "Exec",
        }
    }

    pub fn path(&self) -> &NodePath {
        match self {
            DmCommand::Get { path }
            | DmCommand::Replace { path, .. }
            | DmCommand::Add { path, .. }
            | DmCommand::Delete { path }
            | DmCommand::Exec { path, .. } => path,
        }
    }

    /// How the command reads in a job's list and in its own script syntax.
    pub fn line(&self) -> String {
        match self {
            DmCommand::Get { path } => format!("get {path}"),
            DmCommand::Delete { path } => format!("delete {path}"),
            DmCommand::Replace {
                path,
                value,
                format,
            }
            | DmCommand::Add {
                path,
                value,
                format,
            } => {
                let verb = self.verb().to_ascii_lowercase();
                match format {
                    NodeFormat::Chr => format!("{verb} {path} {value}"),
                    f => format!("{verb}:{} {path} {value}", f.as_str()),
                }
            }
            DmCommand::Exec { path, data, .. } => match data {
                Some(d) => format!("exec {path} {d}"),
                None => format!("exec {path}"),
            },
        }
    }
}

fn new_correlator() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Reads commands an operator typed, one per line:
///
/// ```text
/// get ./DevDetail/SwV
/// replace ./Customization/BrowserHome http://wap.example.net/
/// replace:bool ./Customization/DataRoaming true
/// exec ./LAWMO/Operations/FullyLock
/// ```
///
/// Blank lines and lines starting with `#` are skipped. Every line is
/// checked before any is accepted.
pub fn parse_script(text: &str) -> Result<Vec<DmCommand>, CommandError> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |why: String| CommandError::Line { line: n + 1, why };
        let (head, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let (verb, format) = head
            .split_once(':')
            .map_or((head, None), |(v, f)| (v, Some(f)));
        let rest = rest.trim_start();
        let (path, value) = rest
            .split_once(char::is_whitespace)
            .map_or((rest, None), |(p, v)| (p, Some(v.trim())));
        if format.is_some() && !matches!(verb.to_ascii_lowercase().as_str(), "replace" | "add") {
            return Err(at(format!(
                "only replace and add take a format (got {head:?})"
            )));
        }
        let cmd = DmCommand::new(verb, path, value, format).map_err(|e| at(e.to_string()))?;
        out.push(cmd);
    }
    check_count(&out)?;
    Ok(out)
}

pub fn check_count(commands: &[DmCommand]) -> Result<(), CommandError> {
    if commands.is_empty() {
        return Err(CommandError::Invalid("give at least one command".into()));
    }
    if commands.len() > MAX_COMMANDS {
        return Err(CommandError::Invalid(format!(
            "{} commands: a job carries at most {MAX_COMMANDS}",
            commands.len()
        )));
    }
    Ok(())
}

/// Ready-made jobs for what care and operations do most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// Lock the handset completely (LAWMO FullyLock): a lost or stolen phone.
    Lock,
    /// Lock all but emergency calls and the like (LAWMO PartiallyLock).
    PartialLock,
    Unlock,
    /// Erase the subscriber's data (LAWMO Wipe).
    Wipe,
    /// Back to the factory state (LAWMO FactoryReset).
    FactoryReset,
}

impl Preset {
    pub const ALL: [Preset; 5] = [
        Preset::Lock,
        Preset::PartialLock,
        Preset::Unlock,
        Preset::Wipe,
        Preset::FactoryReset,
    ];

    pub fn parse(s: &str) -> Option<Preset> {
        Preset::ALL.into_iter().find(|p| p.as_str() == s.trim())
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Lock => "lock",
            Preset::PartialLock => "partial-lock",
            Preset::Unlock => "unlock",
            Preset::Wipe => "wipe",
            Preset::FactoryReset => "factory-reset",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Preset::Lock => "Lock the handset (LAWMO FullyLock)",
            Preset::PartialLock => "Lock all but emergency calls (LAWMO PartiallyLock)",
            Preset::Unlock => "Unlock the handset (LAWMO UnLock)",
            Preset::Wipe => "Wipe the subscriber's data (LAWMO Wipe)",
            Preset::FactoryReset => "Reset to factory settings (LAWMO FactoryReset)",
        }
    }

    /// Erases what the subscriber keeps on the handset: asked for twice.
    pub fn destroys_data(self) -> bool {
        matches!(self, Preset::Wipe | Preset::FactoryReset)
    }

    /// The LAWMO operation, then its State (10 fully locked, 20 partially
    /// locked, 30 unlocked), so the job shows what the handset came to.
    pub fn commands(self) -> Vec<DmCommand> {
        let op = match self {
            Preset::Lock => "FullyLock",
            Preset::PartialLock => "PartiallyLock",
            Preset::Unlock => "UnLock",
            Preset::Wipe => "Wipe",
            Preset::FactoryReset => "FactoryReset",
        };
        let node = |rest: &str| NodePath(format!("{LAWMO_NODE}/{rest}"));
        vec![
            DmCommand::Exec {
                path: node(&format!("Operations/{op}")),
                data: None,
                correlator: new_correlator(),
            },
            DmCommand::Get {
                path: node("State"),
            },
        ]
    }
}

/// What one command came to on the device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandResult {
    /// The command as the operator wrote it.
    pub command: String,
    pub path: String,
    /// The device's status code; none until it answered.
    pub status: Option<u16>,
    /// What a Get read (an interior node's children, "/"-separated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// The CmdID it went out with: Status and Results refer to it.
    #[serde(default)]
    pub cmd_id: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub correlator: String,
    /// The result an accepted (202) Exec reported later by Generic Alert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported: Option<String>,
}

impl CommandResult {
    pub fn sent(cmd: &DmCommand, cmd_id: u32) -> CommandResult {
        CommandResult {
            command: cmd.line(),
            path: cmd.path().to_string(),
            status: None,
            value: None,
            format: None,
            cmd_id,
            correlator: match cmd {
                DmCommand::Exec { correlator, .. } => correlator.clone(),
                _ => String::new(),
            },
            reported: None,
        }
    }

    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// A Get of a node the handset does not have.
    pub fn is_missing(&self) -> bool {
        self.status == Some(404) && self.command.starts_with("get ")
    }

    /// The status with its meaning, for people.
    pub fn outcome(&self) -> String {
        match self.status {
            None => "no answer".into(),
            Some(code) => format!("{code} {}", status_meaning(code)),
        }
    }
}

/// What an OMA-DM status code means (OMA-TS-DM_RepPro-V1_2 appendix
/// "Response status codes").
pub fn status_meaning(code: u16) -> &'static str {
    match code {
        200 => "OK",
        202 => "accepted for processing",
        212 => "authentication accepted",
        213 => "chunked item accepted",
        215 => "not executed (the user declined)",
        216 => "atomic roll back OK",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not found",
        405 => "command not allowed",
        406 => "optional feature not supported",
        407 => "authentication required",
        412 => "incomplete command",
        413 => "request entity too large",
        414 => "URI too long",
        415 => "unsupported media type or format",
        416 => "requested size too big",
        418 => "already exists",
        420 => "device full",
        425 => "permission denied",
        500 => "command failed",
        506 => "processing error",
        507 => "atomic failed",
        516 => "atomic roll back failed",
        _ if (200..300).contains(&code) => "success",
        _ if (300..400).contains(&code) => "redirection",
        _ if (400..500).contains(&code) => "the device refused the command",
        _ => "the device failed the command",
    }
}

/// One line saying how a job's commands went, for the job's detail. For a
/// refresh (`refresh`), the nodes the handset does not have are named as
/// missing rather than failed.
pub fn summary(results: &[CommandResult], refresh: bool) -> String {
    let ok = results.iter().filter(|r| r.succeeded()).count();
    let missing_ok = |r: &&CommandResult| refresh && r.is_missing();
    let failed: Vec<String> = results
        .iter()
        .filter(|r| !r.succeeded() && !missing_ok(r))
        .map(|r| format!("{}: {}", r.command, r.outcome()))
        .collect();
    let missing: Vec<&str> = results
        .iter()
        .filter(missing_ok)
        .map(|r| r.path.as_str())
        .collect();
    let mut s = format!(
        "{} command{}: {ok} succeeded",
        results.len(),
        if results.len() == 1 { "" } else { "s" }
    );
    if !failed.is_empty() {
        s.push_str(&format!(
            ", {} failed ({})",
            failed.len(),
            failed.join("; ")
        ));
    }
    if !missing.is_empty() {
        s.push_str(&format!(
            "; not on the handset (404): {}",
            missing.join(", ")
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_rooted_and_checked() {
        assert_eq!(
            NodePath::parse("DevDetail/SwV").unwrap().as_str(),
            "./DevDetail/SwV"
        );
        assert_eq!(
            NodePath::parse(" ./DevInfo/ ").unwrap().as_str(),
            "./DevInfo"
        );
        for bad in [
            "",
            ".",
            "./",
            "./a//b",
            "./a/../b",
            "./a b",
            "./a?list=Struct",
        ] {
            assert!(NodePath::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(NodePath::parse(&format!("./{}", "a".repeat(300))).is_err());
    }

    #[test]
    fn values_must_fit_their_format() {
        assert!(DmCommand::new("replace", "./A/B", Some("12"), Some("int")).is_ok());
        assert!(DmCommand::new("replace", "./A/B", Some("4294967295"), Some("int")).is_ok());
        assert!(DmCommand::new("replace", "./A/B", Some("4294967296"), Some("int")).is_err());
        assert!(DmCommand::new("replace", "./A/B", Some("twelve"), Some("int")).is_err());
        assert!(DmCommand::new("replace", "./A/B", Some("yes"), Some("bool")).is_err());
        assert!(DmCommand::new("replace", "./A/B", None, None).is_err());
        assert!(DmCommand::new("replace", "./A/B", Some("x"), Some("b64")).is_err());
        assert!(DmCommand::new("get", "./A/B", Some("x"), None).is_err());
        assert!(DmCommand::new("copy", "./A/B", None, None).is_err());
    }

    #[test]
    fn scripts_read_one_command_per_line() {
        let cmds = parse_script(
            "# care's checks\nget ./DevDetail/SwV\n\nreplace ./Customization/BrowserHome http://wap.example.net/a b\nreplace:bool ./Customization/DataRoaming true\nexec ./LAWMO/Operations/FullyLock\ndelete ./Customization/MmsProxy\nadd:int ./Customization/Retries 3\n",
        )
        .unwrap();
        assert_eq!(cmds.len(), 6);
        assert_eq!(
            cmds[0],
            DmCommand::Get {
                path: NodePath("./DevDetail/SwV".into())
            }
        );
        assert_eq!(
            cmds[1],
            DmCommand::Replace {
                path: NodePath("./Customization/BrowserHome".into()),
                value: "http://wap.example.net/a b".into(),
                format: NodeFormat::Chr
            }
        );
        assert_eq!(
            cmds[2].line(),
            "replace:bool ./Customization/DataRoaming true"
        );
        assert!(matches!(&cmds[3], DmCommand::Exec { correlator, .. } if correlator.len() == 16));
        assert_eq!(cmds[5].line(), "add:int ./Customization/Retries 3");
    }

    #[test]
    fn a_bad_line_names_its_number_and_accepts_nothing() {
        let e = parse_script("get ./A\nreplace:int ./B ten\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 2: replace ./B: \"ten\" is not a 32-bit integer"
        );
        assert!(parse_script("get:int ./A").is_err());
        assert!(parse_script("\n# nothing\n").is_err());
        let many = "get ./A\n".repeat(MAX_COMMANDS + 1);
        assert!(parse_script(&many).is_err());
    }

    #[test]
    fn commands_keep_their_shape_in_json() {
        let c = DmCommand::new("replace", "./A/B", Some("3"), Some("int")).unwrap();
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(
            json,
            r#"{"command":"replace","path":"./A/B","value":"3","format":"int"}"#
        );
        assert_eq!(serde_json::from_str::<DmCommand>(&json).unwrap(), c);
        assert!(serde_json::from_str::<DmCommand>(r#"{"command":"get","path":"./a//b"}"#).is_err());
    }

    #[test]
    fn presets_run_the_lawmo_operation_and_read_the_state() {
        let cmds = Preset::Lock.commands();
        assert_eq!(cmds[0].path().as_str(), "./LAWMO/Operations/FullyLock");
        assert_eq!(cmds[1].line(), "get ./LAWMO/State");
        assert_eq!(Preset::parse("factory-reset"), Some(Preset::FactoryReset));
        assert!(Preset::Wipe.destroys_data() && !Preset::Unlock.destroys_data());
    }

    #[test]
    fn summaries_say_what_failed() {
        let get = DmCommand::new("get", "./A", None, None).unwrap();
        let mut a = CommandResult::sent(&get, 3);
        a.status = Some(200);
        let rep = DmCommand::new("replace", "./DevInfo/Man", Some("x"), None).unwrap();
        let mut b = CommandResult::sent(&rep, 4);
        b.status = Some(405);
        assert_eq!(
            summary(&[a.clone(), b.clone()], false),
            "2 commands: 1 succeeded, 1 failed (replace ./DevInfo/Man x: 405 command not allowed)"
        );
        // A node a refresh reads that the handset lacks is missing, not
        // failed; an operator's Get of one still fails.
        let lang = DmCommand::new("get", "./DevInfo/Lang", None, None).unwrap();
        let mut c = CommandResult::sent(&lang, 3);
        c.status = Some(404);
        assert!(c.is_missing() && !b.is_missing());
        assert_eq!(
            summary(&[a.clone(), c.clone()], true),
            "2 commands: 1 succeeded; not on the handset (404): ./DevInfo/Lang"
        );
        assert_eq!(
            summary(&[a, b, c], true),
            "3 commands: 1 succeeded, 1 failed (replace ./DevInfo/Man x: 405 command not allowed); \
             not on the handset (404): ./DevInfo/Lang"
        );
    }
}
